#!/usr/bin/env python3
"""Runs the Kubernetes templates of deploy/k8s/ on this machine, without a cluster.

There is no Kubernetes here, so this checks what can be checked without one:

1. The manifests agree with each other: the simulate Job is an Indexed Job
   whose completions equal GOSBI_SHARDS of the ConfigMap, both Jobs read that
   ConfigMap, mount the claim of pvc.yaml (ReadWriteMany) and use one image.
2. Their container commands work. Each pod's command and args are expanded
   as the kubelet does ($(VAR) from the container's environment, $$ -> $),
   with the volume's mountPath moved to a temporary directory and gosbi on
   PATH, and run with /bin/sh: the simulate pods with JOB_COMPLETION_INDEX =
   0..K-1 (in reverse order), then the merge pod. The merged file must be
   byte-identical to a single-machine `gosbi simulate` with the same task, N
   and seed.
3. A restarted simulate pod (restartPolicy OnFailure, eviction) resumes its
   complete shard file and leaves it unchanged; the merge pod fails when a
   shard file is missing.

Usage: deploy/test/k8s_local.py [-gosbi BINARY] [-n N]
(without -gosbi it builds ./cmd/gosbi). Exit status 0 on success, 1 on a
failed check. Needs PyYAML (Debian: python3-yaml).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    sys.exit("k8s_local: FAIL: needs PyYAML (Debian: apt-get install python3-yaml)")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(ROOT, "deploy", "k8s")


class CheckError(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise CheckError(msg)


def load(name):
    with open(os.path.join(K8S, name)) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    check(len(docs) == 1, f"{name}: want one object, got {len(docs)}")
    return docs[0]


def expand(s, env):
    """Expands $(VAR) references as the kubelet does for command and args.

    $$ is an escaped $; $(NAME) with NAME in env is replaced by its value; an
    unknown $(NAME) and an unclosed $( are left as they are.
    """
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "$" and i + 1 < len(s):
            nxt = s[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                j = s.find(")", i + 2)
                if j < 0:
                    out.append(s[i:])
                    break
                name = s[i + 2 : j]
                out.append(env[name] if name in env else s[i : j + 1])
                i = j + 1
                continue
        out.append(c)
        i += 1
    return "".join(out)


def pod_spec(job, name):
    spec = job["spec"]["template"]["spec"]
    check(len(spec["containers"]) == 1, f"{name}: want one container")
    return spec, spec["containers"][0]


def check_job(job, name, config_name, claim_name):
    check(job.get("apiVersion") == "batch/v1" and job.get("kind") == "Job", f"{name}: not a batch/v1 Job")
    spec, c = pod_spec(job, name)
    check(spec.get("restartPolicy") in ("Never", "OnFailure"), f"{name}: a Job's restartPolicy is Never or OnFailure")
    refs = [e["configMapRef"]["name"] for e in c.get("envFrom", []) if "configMapRef" in e]
    check(refs == [config_name], f"{name}: envFrom must name the ConfigMap {config_name!r}, got {refs}")
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes", []) if "persistentVolumeClaim" in v}
    check(list(claims.values()) == [claim_name], f"{name}: must mount the claim {claim_name!r}, got {claims}")
    mounts = [m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] in claims]
    check(len(mounts) == 1, f"{name}: the claim must be mounted once")
    return c, mounts[0]


def run_pod(container, mount, data_dir, env, name):
    """Runs a container's command as the kubelet would start it."""
    argv = [expand(a, env) for a in container.get("command", []) + container.get("args", [])]
    check(argv[:2] == ["/bin/sh", "-c"], f"{name}: expected command /bin/sh -c, got {argv[:2]}")
    argv = [a.replace(mount + "/", data_dir + "/") for a in argv]
    return subprocess.run(argv, env=env, capture_output=True, text=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-gosbi", help="gosbi binary (default: go build ./cmd/gosbi)")
    ap.add_argument("-n", type=int, default=2000, help="simulations (overrides GOSBI_N of config.yaml)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    config = load("config.yaml")
    pvc = load("pvc.yaml")
    sim = load("simulate-job.yaml")
    merge = load("merge-job.yaml")

    # 1. The manifests agree.
    check(config.get("kind") == "ConfigMap", "config.yaml: not a ConfigMap")
    data = config["data"]
    for k in ("GOSBI_TASK", "GOSBI_N", "GOSBI_SEED", "GOSBI_SHARDS", "GOSBI_EXT", "GOSBI_OUT"):
        check(isinstance(data.get(k), str) and data[k] != "", f"config.yaml: {k} missing (values must be strings)")
    check(pvc.get("kind") == "PersistentVolumeClaim", "pvc.yaml: not a PersistentVolumeClaim")
    check("ReadWriteMany" in pvc["spec"]["accessModes"], "pvc.yaml: pods on several nodes need ReadWriteMany")
    cname, claim = config["metadata"]["name"], pvc["metadata"]["name"]
    sc, smount = check_job(sim, "simulate-job.yaml", cname, claim)
    mc, mmount = check_job(merge, "merge-job.yaml", cname, claim)
    check(smount == mmount, f"the Jobs mount the volume at {smount} and {mmount}")
    check(sc["image"] == mc["image"], f"the Jobs use different images: {sc['image']} and {mc['image']}")
    check(sim["spec"].get("completionMode") == "Indexed", "simulate-job.yaml: completionMode must be Indexed")
    shards = int(data["GOSBI_SHARDS"])
    check(sim["spec"].get("completions") == shards,
          f"simulate-job.yaml: completions {sim['spec'].get('completions')} != GOSBI_SHARDS {shards} of config.yaml")
    check(int(sim["spec"].get("parallelism", 1)) >= 1, "simulate-job.yaml: parallelism must be at least 1")
    check(data["GOSBI_OUT"].startswith(smount + "/"), f"config.yaml: GOSBI_OUT must be on the volume ({smount})")
    print(f"k8s_local: manifests agree: Indexed Job of {shards} completions, ConfigMap {cname}, claim {claim} at {smount}")

    # 2. The commands work.
    tmp = tempfile.mkdtemp(prefix="gosbi-k8s-")
    try:
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        gosbi = os.path.join(bindir, "gosbi")
        if args.gosbi:
            shutil.copy(args.gosbi, gosbi)
        else:
            subprocess.run(["go", "build", "-o", gosbi, "./cmd/gosbi"], cwd=ROOT, check=True)
        data_dir = os.path.join(tmp, "data")
        os.mkdir(data_dir)
        # envFrom: the ConfigMap's keys become variables; paths on the volume
        # move with it.
        cm = {k: v.replace(smount + "/", data_dir + "/") for k, v in data.items()}
        cm["GOSBI_N"] = str(args.n)
        base = {"PATH": bindir + ":/usr/bin:/bin", "HOME": tmp}
        base.update(cm)
        out = cm["GOSBI_OUT"]

        def pod(container, name, extra):
            env = dict(base, HOSTNAME=name, **extra)
            r = run_pod(container, smount, data_dir, env, name)
            return r

        shard_files = []
        for i in reversed(range(shards)):
            r = pod(sc, f"gosbi-simulate-{i}", {"JOB_COMPLETION_INDEX": str(i)})
            check(r.returncode == 0, f"simulate pod {i} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
            f = os.path.join(data_dir, "shards", f"shard-{i}{cm['GOSBI_EXT']}")
            check(os.path.isfile(f), f"simulate pod {i} wrote no {f}")
            shard_files.append(f)
        print(f"k8s_local: {shards} simulate pods ran ({cm['GOSBI_TASK']}, n={args.n}, seed {cm['GOSBI_SEED']})")

        r = pod(mc, "gosbi-merge", {})
        check(r.returncode == 0, f"merge pod failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        check(os.path.isfile(out), f"merge pod wrote no {out}")

        single = os.path.join(tmp, "single" + cm["GOSBI_EXT"])
        r = subprocess.run([gosbi, "simulate", "-task", cm["GOSBI_TASK"], "-n", cm["GOSBI_N"], "-seed", cm["GOSBI_SEED"],
                            "-out", single], env=base, capture_output=True, text=True)
        check(r.returncode == 0, f"single-machine simulate failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        with open(out, "rb") as a, open(single, "rb") as b:
            merged_bytes, single_bytes = a.read(), b.read()
        check(merged_bytes == single_bytes,
              f"merged file ({len(merged_bytes)} bytes) differs from the single-machine run ({len(single_bytes)} bytes)")
        print(f"k8s_local: merged file == single-machine file ({len(single_bytes)} bytes)")

        # 3. A restarted pod resumes; a missing shard fails the merge.
        f = shard_files[0]
        with open(f, "rb") as h:
            before = h.read()
        i = shards - 1  # shard_files[0] is the last index (reverse order)
        r = pod(sc, f"gosbi-simulate-{i}-restart", {"JOB_COMPLETION_INDEX": str(i)})
        check(r.returncode == 0, f"restarted simulate pod {i} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        with open(f, "rb") as h:
            check(h.read() == before, f"restarted simulate pod {i} changed its complete shard file")
        os.remove(f)
        os.remove(out)
        r = pod(mc, "gosbi-merge-missing", {})
        check(r.returncode != 0, "merge pod succeeded with a shard file missing")
        check(not os.path.exists(out), "merge pod wrote a result with a shard file missing")
        print("k8s_local: restarted pod resumed (file unchanged); merge fails without a shard: "
              + (r.stderr.strip().splitlines() or ["(no message)"])[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("k8s_local: PASS")


if __name__ == "__main__":
    try:
        main()
    except (CheckError, KeyError, TypeError, ValueError) as e:
        print(f"k8s_local: FAIL: {e!r}" if not isinstance(e, CheckError) else f"k8s_local: FAIL: {e}", file=sys.stderr)
        sys.exit(1)
