#!/usr/bin/env python3
"""Checks the Kustomization in deploy/k8s without kubectl or kustomize.

Run by tests/deploy-check.sh (with the PyYAML of .venv-deploy):

    python tests/kustomization-check.py deploy/k8s

Findings, one per line on stdout, exit status 1 if there are any:
- a top-level field Kustomize does not know (a typo such as `imagse:`;
  kustomize would refuse it, but nothing here runs kustomize);
- a file or directory listed in the kustomization (resources, components,
  patches, generator files, ...) that does not exist, a listed directory
  without a kustomization of its own, a resource listed twice;
- a remote reference (URL, git): `kubectl apply -k deploy/k8s` is meant to
  need nothing but this repository, and a remote one cannot be checked here;
- a .yaml/.yml file under the directory that no kustomization lists, so it
  would never be applied (the usual way to lose a manifest).

Kubernetes schema validation of the manifests themselves is done separately
by kubernetes-validate.
"""

import os
import sys

import yaml

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# Top-level fields of kustomize.config.k8s.io/v1beta1 Kustomization (and
# v1alpha1 Component), from sigs.k8s.io/kustomize/api/types/kustomization.go,
# deprecated ones included because kustomize still accepts them.
KNOWN_FIELDS = {
    "apiVersion", "kind", "metadata", "openapi", "namePrefix", "nameSuffix",
    "namespace", "commonLabels", "labels", "commonAnnotations",
    "patchesStrategicMerge", "patchesJson6902", "patches", "images",
    "imageTags", "replacements", "replicas", "vars", "sortOptions",
    "resources", "components", "crds", "bases", "configMapGenerator",
    "secretGenerator", "helmGlobals", "helmCharts",
    "helmChartInflationGenerator", "generatorOptions", "configurations",
    "generators", "transformers", "validators", "buildMetadata",
}
KINDS = {
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
    ("kustomize.config.k8s.io/v1alpha1", "Component"),
}
# Lists whose entries may be directories holding another kustomization.
DIR_LISTS = ("resources", "components", "bases")
# Lists of plain file paths (generators/transformers/validators/
# patchesStrategicMerge entries may also be inline YAML, which is skipped).
FILE_LISTS = (
    "crds", "configurations", "generators", "transformers", "validators",
    "patchesStrategicMerge",
)


def is_remote(ref):
    return "://" in ref or ref.startswith(("github.com/", "git@", "git::"))


def find_kustomization(directory):
    for name in KUSTOMIZATION_NAMES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def references(doc):
    """(field, entry, may_be_dir) for every path the kustomization names."""
    for field in DIR_LISTS:
        for entry in doc.get(field) or []:
            yield field, entry, True
    for field in FILE_LISTS:
        for entry in doc.get(field) or []:
            if isinstance(entry, str) and "\n" not in entry:
                yield field, entry, False
    for field in ("patches", "patchesJson6902", "replacements"):
        for entry in doc.get(field) or []:
            if isinstance(entry, dict) and "path" in entry:
                yield field, entry["path"], False
    for field in ("configMapGenerator", "secretGenerator"):
        for gen in doc.get(field) or []:
            name = f"{field}[{gen.get('name', '?')}]"
            for entry in gen.get("files") or []:
                # "key=path" or just "path"
                yield name + ".files", str(entry).split("=", 1)[-1], False
            for entry in gen.get("envs") or []:
                yield name + ".envs", entry, False
            if gen.get("env"):
                yield name + ".env", gen["env"], False
    openapi = doc.get("openapi")
    if isinstance(openapi, dict) and "path" in openapi:
        yield "openapi", openapi["path"], False


def check(root):
    findings = []
    listed = set()  # real paths of every file some kustomization uses
    pending = [os.path.realpath(root)]
    seen_dirs = set()
    while pending:
        directory = pending.pop()
        if directory in seen_dirs:
            continue
        seen_dirs.add(directory)
        kpath = find_kustomization(directory)
        if kpath is None:
            findings.append(f"{os.path.relpath(directory)}: no kustomization.yaml")
            continue
        listed.add(os.path.realpath(kpath))
        shown = os.path.relpath(kpath)
        try:
            with open(kpath, encoding="utf-8") as f:
                doc = yaml.safe_load(f)
        except yaml.YAMLError as e:
            findings.append(f"{shown}: not valid YAML: {e}")
            continue
        if not isinstance(doc, dict):
            findings.append(f"{shown}: not a YAML mapping")
            continue
        for key in sorted(set(doc) - KNOWN_FIELDS):
            findings.append(f"{shown}: unknown field {key!r}")
        kind = (doc.get("apiVersion"), doc.get("kind"))
        if kind != (None, None) and kind not in KINDS:
            findings.append(f"{shown}: unexpected apiVersion/kind {kind[0]}/{kind[1]}")
        resources_seen = set()
        for field, entry, may_be_dir in references(doc):
            if not isinstance(entry, str) or not entry:
                findings.append(f"{shown}: {field}: not a path: {entry!r}")
                continue
            if is_remote(entry):
                findings.append(f"{shown}: {field}: remote reference {entry} (not checkable offline)")
                continue
            path = os.path.realpath(os.path.join(directory, entry))
            if field == "resources":
                if path in resources_seen:
                    findings.append(f"{shown}: resources: {entry} listed twice")
                resources_seen.add(path)
            if os.path.isfile(path):
                listed.add(path)
            elif os.path.isdir(path) and may_be_dir:
                pending.append(path)
            elif os.path.isdir(path):
                findings.append(f"{shown}: {field}: {entry} is a directory, not a file")
            else:
                findings.append(f"{shown}: {field}: {entry} does not exist")

    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(dirpath, name)
            if os.path.realpath(path) not in listed:
                findings.append(f"{path}: not listed in any kustomization, so never applied")
    return findings


def main():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} DIR", file=sys.stderr)
        return 2
    findings = check(sys.argv[1])
    for finding in findings:
        print(finding)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
