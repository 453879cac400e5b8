#!/usr/bin/env bash
# ./cdk-deploy.sh: deploys the optimizer, removes it, or runs it locally. ./cdk-deploy.sh --help
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

usage() {
    cat <<'USAGE'
usage:
  ./cdk-deploy.sh [deploy] -c bucket_name=BUCKET [-c key=value ...] [cdk options]
  ./cdk-deploy.sh destroy  -c bucket_name=BUCKET [cdk destroy options]
  ./cdk-deploy.sh setup    [-c lambda_architecture=arm64|x86_64]
  ./cdk-deploy.sh --local  [local run options]        (./cdk-deploy.sh --local --help lists them)
  ./cdk-deploy.sh --help

deploy   to the account and region of your AWS credentials: sets up .venv and the pinned CDK CLI,
         validates the configuration (cdk.json, cdk.context.json, -c; README "Configuration")
         before any AWS call, builds the Lambda layers, synthesizes, runs `cdk bootstrap` only
         when the account/region is not bootstrapped or older than the app requires (read with
         boto3; a custom -c @aws-cdk/core:bootstrapQualifier=Q is honoured), then `cdk deploy`.
         cdk's own options are passed on by the pinned CLI's option table: global ones (--profile,
         --region, --verbose, ...) to every command, bootstrap's (--trust, ...) to bootstrap only,
         deploy's (--require-approval, --hotswap, --outputs-file, ...) to deploy only. An option
         neither knows is an error.
destroy  removes the stack of that bucket (`cdk destroy`); needs no layer build. The bucket and the
         recordings are never touched; the log groups are retained.
setup    only sets up .venv, the CDK CLI and the layers, so that plain `npx cdk synth|diff|...` works.
--local  (anywhere among the arguments) the whole pipeline on an embedded emulator: no AWS account,
         no Docker, never a deployment.

Needs Python 3.11+ (PYTHON=/path/to/python to choose one) and Node.js 18+.
USAGE
}

for arg in "$@"; do
    if [[ "$arg" == "--local" ]]; then
        source scripts/bootstrap.sh
        local_args=()
        for a in "$@"; do [[ "$a" == "--local" ]] || local_args+=("$a"); done
        find_python
        # The options are checked before any set-up (standard library only): bad ones change nothing.
        "$SETUP_PYTHON" -m emulator.local_run --check-arguments "${local_args[@]}" || exit $?
        for a in "${local_args[@]}"; do
            if [[ "$a" == "-h" || "$a" == "--help" ]]; then exit 0; fi
        done
        require_prerequisites
        bootstrap_python local
        build_layers host
        exec "$VENV_PY" -m emulator.local_run "${local_args[@]}"
    fi
done

case "${1:-}" in
    -h | --help | help) usage; exit 0 ;;
    deploy | destroy | setup) command="$1"; shift ;;
    *) command=deploy ;;
esac
for arg in "$@"; do
    if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then usage; exit 0; fi
done

source scripts/bootstrap.sh
require_prerequisites
bootstrap_python app
unset OPTIMIZER_SYNTH_FOR
# Stops here, before any AWS call, when bucket_name (or any other key) is missing or wrong.
if [[ "$command" == setup ]]; then
    architecture="$("$VENV_PY" -m stacks.preflight --architecture-only "$@")"
else
    architecture="$("$VENV_PY" -m stacks.preflight "$@")"
fi
bootstrap_node

routed() {  # the user's arguments that `cdk $1` understands (scripts/cdk_args.py)
    local target="$1"; shift
    "$VENV_PY" scripts/cdk_args.py "$command" "$target" "$@" >"$args_file" || exit 2
    mapfile -d '' -t ROUTED <"$args_file"
}
args_file="$(mktemp)"
trap 'rm -f "$args_file"' EXIT

case "$command" in
    setup)
        build_layers "$architecture"
        say "ready: plain \`npx cdk synth|diff|deploy -c bucket_name=...\` works now (lambda_architecture=$architecture)"
        ;;
    destroy)
        routed destroy "$@"
        "$VENV_PY" scripts/bootstrap_check.py --whoami --cdk-args "$@" || exit 2
        # The synthesis only names the stack: a fresh clone needs no layer build to remove it.
        say "removing the stack (cdk destroy asks for confirmation unless --force)"
        OPTIMIZER_SYNTH_FOR=destroy npx --no-install cdk destroy "${ROUTED[@]}"
        ;;
    deploy)
        routed deploy "$@"; deploy_args=("${ROUTED[@]}")
        routed bootstrap "$@"; bootstrap_args=("${ROUTED[@]}")
        routed synth "$@"; synth_args=("${ROUTED[@]}")
        # Credentials and region first: a missing one would otherwise show only after the synthesis.
        "$VENV_PY" scripts/bootstrap_check.py --whoami --cdk-args "$@" || exit 2
        build_layers "$architecture"
        step --expect "about 15 s" "synthesizing the stack into cdk.out" -- npx --no-install cdk synth --quiet "${synth_args[@]}" || exit 1
        status=0
        "$VENV_PY" scripts/bootstrap_check.py cdk.out --cdk-args "$@" || status=$?
        case "$status" in
            0 | 11) ;;
            10) npx --no-install cdk bootstrap --app cdk.out "${bootstrap_args[@]}" ;;
            *) exit 2 ;;
        esac
        if [[ "$status" != 10 && ${#bootstrap_args[@]} -gt ${#synth_args[@]} ]]; then
            say "note: the bootstrap options given were not used (no bootstrap ran); run npx cdk bootstrap yourself to change the bootstrap stack"
        fi
        npx --no-install cdk deploy --app cdk.out "${deploy_args[@]}"
        # Lambda versions superseded more than MAX_RUN + 1 day ago: no execution can still use them.
        "$VENV_PY" scripts/prune_versions.py cdk.out --cdk-args "$@" || true
        ;;
esac
