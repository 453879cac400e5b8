#!/usr/bin/env bash
# Deploys the optimizer to the AWS account and region of your current credentials.
#
#   ./cdk-deploy.sh -c bucket_name=my-connect-recordings [-c key=value ...] [cdk deploy options]
#   ./cdk-deploy.sh --local [options]     run the whole pipeline on an embedded emulator instead
#                                         (no AWS account, no Docker; --help for its options)
#
# Installs what it needs (.venv, the pinned CDK CLI), validates the configuration before touching
# AWS, builds the ffmpeg layer for the configured architecture, bootstraps the environment and
# deploys. Every argument is passed on to `cdk deploy`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/bootstrap.sh

if [[ "${1:-}" == "--local" ]]; then
    shift
    bootstrap_python
    layers/build.sh host >&2
    exec .venv/bin/python -m emulator.local_run "$@"
fi

bootstrap_python
# Stops here, before any AWS call, when bucket_name (or any other key) is missing or wrong.
architecture="$(.venv/bin/python -m stacks.preflight "$@")"
bootstrap_node
layers/build.sh "$architecture" >&2

say "bootstrapping the CDK environment (once per account and region)"
npx --no-install cdk bootstrap "$@"
npx --no-install cdk deploy "$@"
