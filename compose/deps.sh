#!/usr/bin/env bash
# compose/deps.sh — install ferry's build, test and local-run dependencies
# from Debian's packages. Idempotent: when everything is present it prints
# nothing, runs no apt at all and takes a fraction of a second, so it can sit
# at the front of any make target or test script.
set -euo pipefail

# Libraries ferry links against, and the tools to build, format and test it
# (clang and its runtime for `make fuzz`, valgrind for instruction counts).
# libcurl's GnuTLS flavour: the OpenSSL one conflicts with it (and machines
# set up for older ferry versions have it through libulfius-dev).
packages=(
    librdkafka-dev
    libcurl4-gnutls-dev
    libjansson-dev
    libssl-dev
    libxml2-dev
    zlib1g-dev
    kcat
    pkg-config
    libcmocka-dev
    clang-format
    gcc
    make
    python3
    nodejs
    wrk
    nginx-light
    tzdata # IANA time zones of schedules (shared/tz.c reads /usr/share/zoneinfo)
    clang
    libclang-rt-14-dev
    valgrind
    php-cli # the PHP webhook receiver example (tests/receivers) runs in the tests
    # render: Debian's headless Chromium (the old headless shell the stage
    # runs by default, and the full browser for FERRY_RENDER_CHROMIUM).
    chromium-headless-shell
    chromium
)

# The local Kafka broker (compose/kafka.sh) needs a JDK and Maven; a Java 17
# already on PATH, from Debian or elsewhere, is used as it is.
command -v java >/dev/null || packages+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || packages+=(maven)

# Which of them dpkg knows as installed. dpkg-query answers from the local
# database, with no lock and no network: the cheap way to learn that nothing
# needs doing. One call for all packages; it exits non-zero when some are
# unknown, which is expected here.
declare -A installed=()
while read -r pkg status; do
    if [[ $status == "install ok installed" ]]; then
        installed[$pkg]=1
    fi
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)

missing=()
for pkg in "${packages[@]}"; do
    [[ -n ${installed[$pkg]:-} ]] || missing+=("$pkg")
done
# The integration tests need pytest, jsonschema and (to read the deployment
# files) PyYAML in whichever python3 runs them: module:Debian package:PyPI
# name. Debian's packages serve Debian's python3; another python3 on PATH
# (pyenv, a venv) gets them from PyPI with its own pip.
# confluent-kafka runs the topic guide's Python recipes (schemas/TOPICS.md).
pip_missing=()
for row in pytest:python3-pytest:pytest jsonschema:python3-jsonschema:jsonschema \
    yaml:python3-yaml:PyYAML confluent_kafka:python3-confluent-kafka:confluent-kafka; do
    IFS=: read -r mod deb pypi <<<"$row"
    python3 -c "import $mod" >/dev/null 2>&1 && continue
    py=$(command -v python3 || true)
    if [[ -z $py || $py == /usr/bin/python3 ]]; then
        missing+=("$deb")
    else
        pip_missing+=("$pypi")
    fi
done
# schemathesis (PyPI only; a test tool) checks the API against
# schemas/openapi.yaml: the python3 on PATH gets it with its own pip, Debian's
# (which refuses pip installs of its own) in a venv under compose/.cache.
st_venv=$(cd "$(dirname "$0")" && pwd)/.cache/schemathesis
st_missing=0
command -v schemathesis >/dev/null || [[ -x $st_venv/bin/schemathesis ]] || st_missing=1
if ((st_missing)) && [[ $(command -v python3 || true) == /usr/bin/python3 ]]; then
    python3 -c "import venv, ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
fi
# The Standard Webhooks library (npm; a test tool) verifies ferry's
# signatures in the tests as a receiver using it would, rotations included.
npm_dir=$(cd "$(dirname "$0")" && pwd)/.cache/npm
swh_missing=0
[[ -f $npm_dir/node_modules/standardwebhooks/package.json ]] || swh_missing=1
# playwright-core (npm; a test tool) drives Debian's chromium through the
# dashboard in tests/integration/test_dashboard.py. It never downloads a
# browser: the test names /usr/bin/chromium.
[[ -f $npm_dir/node_modules/playwright-core/package.json ]] || swh_missing=1
((swh_missing)) && ! command -v npm >/dev/null && missing+=(npm)
((${#missing[@]} + ${#pip_missing[@]} + st_missing + swh_missing)) || exit 0

sudo=()
((EUID == 0)) || sudo=(sudo)

# Another apt run (e.g. the machine's provisioning) may hold apt's locks;
# wait for it rather than failing. DPkg::Lock::Timeout covers the dpkg lock
# only: apt 2.6 still fails at once on the lists and archives locks ("Could not
# get lock"), so those are retried here, up to the same 300 s. A command that
# fails on a lock has changed nothing, so retrying it is safe.
apt_get() {
    local deadline=$((SECONDS + 300)) out
    until out=$("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get -o DPkg::Lock::Timeout=300 "$@" 2>&1); do
        if [[ $out == *"Could not get lock"* ]] && ((SECONDS < deadline)); then
            sleep 2
            continue
        fi
        printf '%s\n' "$out" >&2
        return 1
    done
    [[ -z $out ]] || printf '%s\n' "$out"
}

if ((${#missing[@]})); then
    echo "deps.sh: installing ${missing[*]}"
    apt_get update -qq
    apt_get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ((${#pip_missing[@]})); then
    echo "deps.sh: installing ${pip_missing[*]} for $(command -v python3) from PyPI"
    python3 -m pip install -q "${pip_missing[@]}"
fi
if ((swh_missing)); then
    echo "deps.sh: installing standardwebhooks and playwright-core from npm into $npm_dir"
    mkdir -p "$npm_dir"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install -s --no-audit --no-fund --prefix "$npm_dir" \
        standardwebhooks@1.1.1 playwright-core@1.65.1 >/dev/null
fi
if ((st_missing)); then
    if [[ $(command -v python3) == /usr/bin/python3 ]]; then
        echo "deps.sh: installing schemathesis from PyPI into $st_venv"
        python3 -m venv "$st_venv"
        "$st_venv/bin/pip" install -q schemathesis
    else
        echo "deps.sh: installing schemathesis for $(command -v python3) from PyPI"
        python3 -m pip install -q schemathesis
    fi
fi
