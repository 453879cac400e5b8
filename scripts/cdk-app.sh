#!/bin/sh
# The "app" of cdk.json: plain `npx cdk ...` on a fresh clone says what to set up instead of
# failing on a missing interpreter.
if [ ! -x .venv/bin/python ]; then
    echo "error: .venv is missing: run ./cdk-deploy.sh setup first (it installs the app's packages and builds the Lambda layers)" >&2
    exit 2
fi
exec .venv/bin/python app.py
