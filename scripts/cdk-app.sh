#!/bin/sh
# The "app" of cdk.json: plain `npx cdk ...` on a fresh clone says what to set up instead of
# failing on a missing interpreter. VENV_DIR (scripts/bootstrap.sh) picks another venv.
python="${VENV_DIR:-.venv}/bin/python"
if [ ! -x "$python" ]; then
    echo "error: $python is missing: run ./cdk-deploy.sh setup first (it installs the app's packages and builds the Lambda layers)" >&2
    exit 2
fi
exec "$python" app.py
