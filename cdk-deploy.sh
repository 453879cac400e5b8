#!/usr/bin/env bash
# ./cdk-deploy.sh: deploys the optimizer, removes it, or runs it locally. ./cdk-deploy.sh --help
set -euo pipefail
caller_directory="$PWD"  # --local takes relative paths from here, not from the repository
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/bootstrap.sh  # functions and settings only (PYTHON_RANGE): it sets nothing up by itself

usage() {
    cat <<'USAGE'
usage:
  ./cdk-deploy.sh [deploy] -c bucket_name=BUCKET -c bucket_prefix=PREFIX [-c key=value ...] [cdk options]
  ./cdk-deploy.sh destroy  -c bucket_name=BUCKET [--even-if-busy] [cdk destroy options]
  ./cdk-deploy.sh setup    [-c lambda_architecture=arm64|x86_64]
  ./cdk-deploy.sh --local  [-c key=value ...] [local run options]   (./cdk-deploy.sh --local --help lists them)
  ./cdk-deploy.sh --help

Before any set-up, on this machine's Python: a word that is no command, option or stack of this
app is refused, then the configuration (cdk.json, cdk.context.json, -c; docs/configuration.md).
deploy   to the account and region of your AWS credentials: installs boto3 alone (pinned) and
         checks that there are credentials and a region (boto3's own chain: profiles, SSO,
         credential_process, roles), then sets up the pinned CDK CLI (checking every option against
         its option table) and .venv, refuses a converter_max_concurrency that would leave the account's
         other Lambda functions under 100 or half of its unreserved concurrency (read with boto3,
         lambda:GetAccountSettings; OPTIMIZER_UNRESERVED_CONCURRENCY=N gives it when that read is
         not allowed), builds the Lambda layers, synthesizes, runs `cdk bootstrap` only
         when the account/region is not bootstrapped or older than the app requires (read with
         boto3; a custom -c @aws-cdk/core:bootstrapQualifier=Q is honoured), then `cdk deploy`.
         cdk's own options are passed on by the pinned CLI's option table: global ones (--profile,
         --region, --verbose, ...) to every command, bootstrap's (--trust, ...) to bootstrap only,
         deploy's (--require-approval, --hotswap, --outputs-file, ...) to deploy only. An option
         neither knows is an error. Before a bootstrap runs, it says what the bootstrap grants: the
         CloudFormation execution role gets AdministratorAccess unless
         --cloudformation-execution-policies ARN[,ARN] names the policies it gets instead.
destroy  removes the stack of that bucket (`cdk destroy`); checks credentials and region first, as
         deploy does; needs no layer build. First reads the stack with boto3 and says what will be
         deleted and kept, and refuses while its dead-letter queue holds messages or a run is in
         progress (or that cannot be read), unless --even-if-busy. The bucket and the recordings
         are never touched; the log groups are retained.
setup    only sets up .venv, the CDK CLI and the layers, so that plain `npx cdk synth|diff|...` works.
--local  (anywhere among the arguments) the whole pipeline on an embedded emulator: no AWS account,
         no Docker, never a deployment.
USAGE
    echo "Needs Python $PYTHON_RANGE (PYTHON=/path/to/python3.x chooses one and rebuilds .venv with it) and Node.js 18+."
}

for arg in "$@"; do
    if [[ "$arg" == "--local" ]]; then
        local_args=()
        for a in "$@"; do [[ "$a" == "--local" ]] || local_args+=("$a"); done
        find_python
        # The options and the settings (cdk.context.json, then -c) are checked before any set-up
        # (standard library only): bad ones change nothing.
        "$SETUP_PYTHON" -m emulator.local_run --check-arguments --caller-directory "$caller_directory" \
            "${local_args[@]}" || exit $?
        for a in "${local_args[@]}"; do
            if [[ "$a" == "-h" || "$a" == "--help" ]]; then exit 0; fi
        done
        require_prerequisites
        bootstrap_python local
        build_layers host
        exec "$VENV_PY" -m emulator.local_run --caller-directory "$caller_directory" "${local_args[@]}"
    fi
done

case "${1:-}" in
    -h | --help | help) usage; exit 0 ;;
    deploy | destroy | setup) command="$1"; shift ;;
    *) command=deploy ;;
esac
even_if_busy=()
if [[ "$command" == destroy ]]; then  # our own option, not cdk's: taken out before the routing
    kept=()
    for arg in "$@"; do
        if [[ "$arg" == --even-if-busy ]]; then even_if_busy=(--even-if-busy); else kept+=("$arg"); fi
    done
    set -- ${kept[@]+"${kept[@]}"}
fi
for arg in "$@"; do
    if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then usage; exit 0; fi
done

require_prerequisites
unset OPTIMIZER_SYNTH_FOR
# Before any set-up, on this machine's Python (both scripts use the standard library only): a word
# that is no command, option or stack of this app (`deploi`), then bucket_name, bucket_prefix or any
# other key.
"$SETUP_PYTHON" scripts/cdk_args.py --check "$command" "$@" || exit 2
if [[ "$command" == setup ]]; then
    architecture="$("$SETUP_PYTHON" -m stacks.context_check --architecture-only "$@")"
else
    if [[ "$command" == destroy ]]; then  # only the stack's name matters: bucket_prefix may be absent
        architecture="$("$SETUP_PYTHON" -m stacks.context_check --to-destroy "$@")"
    else
        architecture="$("$SETUP_PYTHON" -m stacks.context_check "$@")"
    fi
    # Credentials and region with boto3 alone (its own chain: SSO, credential_process, roles), before the big install.
    bootstrap_boto3
    "$VENV_PY" scripts/bootstrap_check.py --whoami --cdk-args "$@" || exit 2
fi
bootstrap_node
# With the CLI's option table installed, every option is checked, still before the big install.
[[ "$command" == setup ]] || "$SETUP_PYTHON" scripts/cdk_args.py --check "$command" "$@" || exit 2
bootstrap_python app

routed() {  # the user's arguments that `cdk $1` understands (scripts/cdk_args.py)
    local target="$1"; shift
    "$SETUP_PYTHON" scripts/cdk_args.py "$command" "$target" "$@" >"$args_file" || exit 2
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
        # What will be deleted, and no deletion while failures wait in the DLQ or a run is in progress.
        "$VENV_PY" scripts/destroy_check.py ${even_if_busy[@]+"${even_if_busy[@]}"} --cdk-args "$@" || exit 2
        # The synthesis only names the stack: a fresh clone needs no layer build to remove it.
        say "removing the stack (cdk destroy asks for confirmation unless --force)"
        OPTIMIZER_SYNTH_FOR=destroy npx --no-install cdk destroy "${ROUTED[@]}"
        ;;
    deploy)
        routed deploy "$@"; deploy_args=("${ROUTED[@]}")
        routed bootstrap "$@"; bootstrap_args=("${ROUTED[@]}")
        routed synth "$@"; synth_args=("${ROUTED[@]}")
        # The converters' maximum against the account's unreserved Lambda concurrency (read with boto3).
        "$VENV_PY" scripts/concurrency_check.py --cdk-args "$@" || exit 2
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
