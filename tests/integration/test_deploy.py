"""The deployment files (compose/docker-compose.yml, compose/Dockerfile),
checked against the tree as far as it can be without a Docker engine: the
YAML parses into the cluster and stages it promises; every FERRY_* variable
it sets is one the stage it is given to lists in --help; the Dockerfile
builds with the packages compose/deps.sh installs, copies every source
`make all` compiles, runs `make all` and the unit tests, and installs at run
time the packages that hold every library the built programs link. Nothing
here builds an image or starts a container."""

import base64
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import BUILD, ROOT

COMPOSE = ROOT / "compose" / "docker-compose.yml"
DOCKERFILE = ROOT / "compose" / "Dockerfile"
STAGES = ("ingest", "scrape", "aggregate", "deliver", "render")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def help_vars(stage):
    out = subprocess.run([str(BUILD / f"ferry-{stage}"), "--help"], capture_output=True,
                         text=True, timeout=10, check=True).stdout
    return set(re.findall(r"^\s+(FERRY_[A-Z0-9_]+)\s", out, re.M))


def stage_of(service):
    cmd = service.get("command") or []
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    m = re.fullmatch(r"ferry-(\w+)", cmd[0]) if cmd else None
    return m.group(1) if m else None


def test_compose_three_kraft_brokers_replicated_three_ways(compose):
    brokers = {n: s for n, s in compose["services"].items() if n.startswith("kafka-")}
    assert sorted(brokers) == ["kafka-1", "kafka-2", "kafka-3"]
    pom = (ROOT / "compose/kafka/pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1)
    voters = {f"{i}@kafka-{i}:9093" for i in (1, 2, 3)}
    ids = set()
    for name, svc in brokers.items():
        # The same Kafka as the jars the tests run against.
        assert svc["image"] == f"apache/kafka:{version}", name
        env = {k: str(v) for k, v in svc["environment"].items()}
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
        assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        # A KRaft cluster id is 16 bytes in URL-safe base64, the same on all.
        assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
        ids.add((env["KAFKA_NODE_ID"], env["CLUSTER_ID"]))
        assert svc["restart"] == "unless-stopped"
        assert "kafka-broker-api-versions.sh" in " ".join(svc["healthcheck"]["test"])
        assert svc["volumes"], f"{name} keeps its data in a volume"
    assert {i for i, _ in ids} == {"1", "2", "3"} and len({c for _, c in ids}) == 1


def test_compose_every_stage_health_checked_restarted_and_scaled(compose):
    by_stage = {stage_of(s): (n, s) for n, s in compose["services"].items() if stage_of(s)}
    assert sorted(by_stage) == sorted(STAGES)
    for stage, (name, svc) in by_stage.items():
        env = svc["environment"]
        assert svc["restart"] == "unless-stopped", name
        assert svc["build"]["dockerfile"] == "compose/Dockerfile"
        assert (COMPOSE.parent / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() \
            == DOCKERFILE.resolve()
        for b in ("kafka-1", "kafka-2", "kafka-3"):
            assert svc["depends_on"][b]["condition"] == "service_healthy"
        assert set(env["FERRY_KAFKA_BROKERS"].split(",")) == {f"kafka-{i}:9092" for i in (1, 2, 3)}
        assert str(env["FERRY_TOPIC_REPLICATION"]) == "3"
        # The health check asks the port the stage serves /healthz on.
        listen = env["FERRY_LISTEN" if stage == "ingest" else f"FERRY_{stage.upper()}_METRICS_LISTEN"]
        port = listen.rsplit(":", 1)[1]
        assert listen.startswith("0.0.0.0:"), f"{name}: other containers must reach it"
        assert f"http://127.0.0.1:{port}/healthz" in svc["healthcheck"]["test"], name
        assert svc["deploy"]["replicas"] >= 2, f"{name} is scaled out"
    # Partitions bound the instances that share a stage's work.
    parts = int(by_stage["scrape"][1]["environment"]["FERRY_TOPIC_PARTITIONS"])
    assert all(s["deploy"]["replicas"] <= parts for _, s in by_stage.values())


def test_compose_sets_only_variables_the_stages_know(compose):
    """A misspelt FERRY_* name would be silently ignored by the stage:
    each one set for a service must be in that stage's --help."""
    checked = 0
    for name, svc in compose["services"].items():
        stage = stage_of(svc)
        if not stage:
            continue
        known = help_vars(stage)
        assert len(known) > 10
        for var in svc["environment"]:
            if var.startswith("FERRY_"):
                assert var in known, f"{name} sets {var}, which ferry-{stage} --help does not list"
                checked += 1
    assert checked >= 20
    # Secrets come from the operator's environment and are required.
    text = COMPOSE.read_text()
    assert "${FERRY_SECRET_KEY:?" in text and "${FERRY_API_KEYS:?" in text


def dockerfile_stages():
    """[(FROM line, [instructions])] with continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages.append((rest, []))
        else:
            stages[-1][1].append((word.upper(), rest.strip()))
    return stages


def apt_packages(instrs):
    pkgs = set()
    for word, rest in instrs:
        if word == "RUN" and "apt-get install" in rest:
            part = rest.split("apt-get install", 1)[1].split("&&")[0]
            pkgs |= {t for t in part.split() if not t.startswith("-")}
    return pkgs


def deps_packages():
    text = (ROOT / "compose/deps.sh").read_text()
    block = re.search(r"packages=\(\n(.*?)\n\)", text, re.S).group(1)
    return {ln.strip() for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")}


def test_dockerfile_builds_as_make_does():
    stages = dockerfile_stages()
    assert len(stages) == 2, "a build stage and a runtime stage"
    (build_from, build), (run_from, run) = stages
    assert build_from.startswith("debian:bookworm ") and run_from.startswith("debian:bookworm-slim ")

    # The build installs what deps.sh installs to build and unit-test: the
    # -dev package of every pkg-config module the Makefile links (and
    # cmocka's), the compiler, make, pkg-config, and node for one unit test.
    makefile = (ROOT / "Makefile").read_text()
    modules = re.search(r"^PKGS\s*:=\s*(.+)$", makefile, re.M).group(1).split() + ["cmocka"]
    dev = {pc_package(m) for m in modules}
    assert None not in dev, f"no Debian package found for one of {modules}"
    want = dev | {"gcc", "make", "pkg-config", "nodejs"}
    assert apt_packages(build) == want
    # All of them come from deps.sh.
    assert want <= deps_packages()

    runs = [rest for w, rest in build if w == "RUN"]
    assert any(re.search(r"\bmake( -j\S+)? all\b", r) and "tests/run.sh --unit-only" in r
               for r in runs), runs

    # Every source `make all` compiles (and the Makefile) is copied in.
    copied = [rest.split()[0].rstrip("/") for w, rest in build if w == "COPY"]
    dry = subprocess.run(["make", "-n", "-B", "all", f"B={BUILD}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    sources = {f for f in re.findall(r"-c -o \S+ (\S+\.c)", dry) if not f.startswith(str(BUILD))}
    assert len(sources) > 50, "make -n lists the compiles"
    assert "Makefile" in copied
    missing = sorted(s for s in sources if not any(s == c or s.startswith(c + "/") for c in copied))
    assert not missing, f"make all compiles {missing[:5]}, which the Dockerfile does not copy"
    assert "tests/run.sh" in copied


def pc_package(module):
    """The Debian package holding a pkg-config module's .pc file."""
    d = subprocess.run(["pkg-config", "--variable=pcfiledir", module], capture_output=True,
                       text=True).stdout.strip()
    return lib_package(f"{d}/{module}.pc") if d else None


def lib_package(path):
    """The Debian package holding a file (merged /usr aware)."""
    real = str(Path(path).resolve())
    for cand in (path, real, real.replace("/usr/lib/", "/lib/", 1), path.replace("/lib/", "/usr/lib/", 1)):
        out = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.split(":", 1)[0].strip()
    return None


def test_dockerfile_runtime_has_every_library_the_programs_link():
    if subprocess.run(["sh", "-c", "command -v dpkg && grep -q bookworm /etc/os-release"],
                      capture_output=True).returncode != 0:
        pytest.skip("needs Debian bookworm's dpkg database to name the packages")
    # The image builds its own programs with the Makefile's flags; a sanitizer
    # build (make asan) links runtimes and libraries that build never does.
    if "libasan" in subprocess.run(["readelf", "-d", str(BUILD / "ferry")], capture_output=True,
                                   text=True, check=True).stdout:
        pytest.skip("a sanitizer build: not the programs the image ships")
    (_, build), (_, run) = dockerfile_stages()
    runtime = apt_packages(run)
    copied = " ".join(rest for w, rest in run if w == "COPY")
    needed = {}
    for name in [f"ferry-{s}" for s in STAGES] + ["ferry"]:
        binary = BUILD / name
        assert f"/src/build/{name} " in copied + " ", f"the runtime stage lacks {name}"
        names = re.findall(r"\(NEEDED\).*\[(.+)\]", subprocess.run(
            ["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout)
        ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
        paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
        for n in names:
            needed[n] = lib_package(paths[n])
    missing = {lib: pkg for lib, pkg in needed.items() if pkg not in runtime and pkg != "libc6"}
    assert not missing, f"the runtime stage lacks the packages of {missing}"
    assert {"ca-certificates", "curl"} <= runtime
    # The browser render starts by default is in the image.
    chromium = re.search(r"^\s+FERRY_RENDER_CHROMIUM\s.*\n\s+default: (\S+)",
                         subprocess.run([str(BUILD / "ferry-render"), "--help"], capture_output=True,
                                        text=True, check=True).stdout, re.M).group(1)
    browser = lib_package(chromium)
    assert browser in runtime, f"the runtime stage lacks {chromium} ({browser})"
    # And nothing that no program links any more (ulfius once was).
    extra = runtime - set(needed.values()) - {"ca-certificates", "curl", browser}
    assert not extra, f"the runtime stage installs {sorted(extra)}, which no program links"
    assert ("USER", "ferry") in run
