#!/usr/bin/env bash
# Build the aphex container images (deployer, builder) from the repository root; optionally push to ECR.
#
# Each image is tagged with the package version (pyproject.toml) and the commit's short SHA (12 hex
# digits; "-dirty" is appended when tracked files have uncommitted changes), and gets VERSION and
# REVISION (the full SHA) as build arguments for its OCI labels. See images/README.md.
set -euo pipefail

readonly IMAGES=(deployer builder)
readonly REPOSITORY_PREFIX="aphex-dev"
readonly ECR_REGISTRY='^[0-9]{12}\.dkr\.ecr\.([a-z]{2}(-[a-z]+)+-[0-9])\.amazonaws\.com(\.cn)?$'
readonly TAG='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'

usage() {
    cat <<'EOF'
Usage: images/build.sh [--dry-run] [--push --registry <account>.dkr.ecr.<region>.amazonaws.com]

Builds images/deployer and images/builder, tagged <version> and <short git SHA>.

  --registry REGISTRY  name the images REGISTRY/aphex-dev/<image> (an Amazon ECR registry)
  --push               log in to the ECR registry and push both tags of both images (needs --registry)
  --dry-run            print the commands instead of running them
  -h, --help           show this help
EOF
}

die() {
    printf 'build.sh: %s\n' "$1" >&2
    exit 2
}

push=false
dry_run=false
registry=""
registry_given=false
while (($# > 0)); do
    case "$1" in
        --push) push=true ;;
        --dry-run) dry_run=true ;;
        --registry)
            (($# > 1)) || die "--registry needs a value, e.g. --registry 123456789012.dkr.ecr.eu-west-1.amazonaws.com"
            registry="$2"
            registry_given=true
            shift
            ;;
        --registry=*)
            registry="${1#--registry=}"
            registry_given=true
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

region=""
if [[ "$registry_given" == true ]]; then
    [[ "$registry" =~ $ECR_REGISTRY ]] ||
        die "--registry must be an ECR registry such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com (got '$registry')"
    region="${BASH_REMATCH[1]}"
fi
if [[ "$push" == true && -z "$registry" ]]; then
    die "--push needs --registry <account>.dkr.ecr.<region>.amazonaws.com"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Print a command (shell-quoted) in a dry run, run it otherwise.
run() {
    if [[ "$dry_run" == true ]]; then
        local line
        printf -v line '%q ' "$@"
        printf '%s\n' "${line% }"
    else
        "$@"
    fi
}

ecr_login() {
    if [[ "$dry_run" == true ]]; then
        printf 'aws ecr get-login-password --region %q | docker login --username AWS --password-stdin %q\n' \
            "$region" "$registry"
    else
        aws ecr get-login-password --region "$region" |
            docker login --username AWS --password-stdin "$registry"
    fi
}

require() {
    command -v "$1" >/dev/null 2>&1 || die "$1 is not installed (needed to $2)"
}

require git "read the commit"
if [[ "$dry_run" == false ]]; then
    require docker "build the images"
    if [[ "$push" == true ]]; then
        require aws "log in to ECR"
    fi
fi

version="$(awk -F'"' '/^\[/ { section = $0 } section == "[project]" && /^version *= *"/ { print $2; exit }' pyproject.toml)"
[[ "$version" =~ $TAG ]] || die "pyproject.toml: [project] version '$version' is not usable as an image tag"

revision="$(git rev-parse HEAD)"
[[ "$revision" =~ ^([0-9a-f]{40}|[0-9a-f]{64})$ ]] || die "git rev-parse HEAD: not a commit SHA: '$revision'"
short="${revision:0:12}"
if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
    [[ "$push" == false ]] ||
        die "refusing to push images of a working tree with uncommitted changes; commit or stash them first"
    short="${short}-dirty"
    printf 'build.sh: uncommitted changes: tagging %s\n' "$short" >&2
fi

names=()
for image in "${IMAGES[@]}"; do
    name="${registry:+${registry}/}${REPOSITORY_PREFIX}/${image}"
    names+=("$name")
    run docker build \
        --file "images/${image}/Dockerfile" \
        --build-arg "VERSION=${version}" \
        --build-arg "REVISION=${revision}" \
        --tag "${name}:${version}" \
        --tag "${name}:${short}" \
        .
done

if [[ "$push" == true ]]; then
    ecr_login
    for name in "${names[@]}"; do
        run docker push "${name}:${version}"
        run docker push "${name}:${short}"
    done
fi
