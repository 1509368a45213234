"""Assemble the distroless runtime tree and the whole-image SBOM, inside the builder stage.

Run by base-image/steps with the builder's own Debian python3 (standard library only):

    assemble.py runtime ROOT   # copy the runtime's Debian packages, the venv and config to ROOT
    assemble.py sbom ROOT VENV_SBOM OUT   # OS packages + interpreter + venv as one CycloneDX SBOM
    assemble.py strip SITE_PACKAGES       # drop debug sections of extension modules (see strip)

The runtime holds the files of the packages in RUNTIME_ROOTS and everything they depend on, minus
EXCLUDED (packages only their maintainer scripts need, which never run in the image): no package
manager, no shell, no Perl, no compilers. Each package's dpkg record goes to
/var/lib/dpkg/status.d/NAME, the layout distroless images use and scanners (trivy, grype, syft)
read. Setuid and setgid bits are dropped; the run fails if a package would bring a file that is
missing from the builder or a library the interpreter cannot load.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
from pathlib import Path

# The packages the runtime is made of, and what it leaves out although they depend on it.
RUNTIME_ROOTS = (
    "python3.11-minimal",  # the interpreter
    "libpython3.11-stdlib",  # the standard library (ssl, sqlite3, zoneinfo, ...)
    "python3-minimal",  # /usr/bin/python3, which the venv's python points at
    "ca-certificates",  # the trust store (the generated bundle is copied too)
    "tzdata",  # zoneinfo
    "base-files",  # /etc/os-release: scanners identify the distribution by it
    "media-types",  # /etc/mime.types for mimetypes (file uploads)
)
EXCLUDED = frozenset(
    {
        # needed only by maintainer scripts or to manage packages
        "dpkg",
        "debconf",
        "debconf-2.0",
        "perl-base",
        "openssl",  # the command; libssl3 stays
        "init-system-helpers",
        "mawk",  # base-files' postinst
        # shell and shell utilities
        "bash",
        "coreutils",
        "sed",
        "grep",
        "tar",
        "findutils",
        "diffutils",
        "util-linux",
        "login",
        "passwd",
        "base-passwd",
    }
)
USER = (10001, 10001, "golden-path")
_STATUS = Path("/var/lib/dpkg/status")
_INFO = Path("/var/lib/dpkg/info")


def _paragraphs(text: str) -> list[dict[str, str]]:
    records = []
    for block in text.strip().split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line
            else:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        fields["_raw"] = block.strip() + "\n"
        records.append(fields)
    return records


def installed_packages() -> dict[str, dict[str, str]]:
    """Package name -> its dpkg status record, for every installed package of the builder."""
    return {
        p["Package"]: p
        for p in _paragraphs(_STATUS.read_text(encoding="utf-8"))
        if p.get("Status", "").endswith(" installed")
    }


def closure(packages: dict[str, dict[str, str]]) -> list[str]:  # noqa: PLR0912
    """RUNTIME_ROOTS and their Depends/Pre-Depends, minus EXCLUDED, sorted."""
    provided: dict[str, str] = {}
    for name, fields in packages.items():
        for item in fields.get("Provides", "").split(","):
            virtual = item.strip().split(" ")[0]
            if virtual:
                provided.setdefault(virtual, name)
    chosen: set[str] = set()
    todo = list(RUNTIME_ROOTS)
    while todo:
        name = todo.pop()
        if name in chosen or name in EXCLUDED:
            continue
        if name not in packages:
            sys.exit(f"assemble: {name} is not installed in the builder; add it to the base")
        chosen.add(name)
        for field in ("Pre-Depends", "Depends"):
            for clause in packages[name].get(field, "").split(","):
                if not clause.strip():
                    continue
                options = [a.strip().split(" ")[0].split(":")[0] for a in clause.split("|")]
                for option in options:
                    if option in packages or option in EXCLUDED:
                        todo.append(option)
                        break
                    if option in provided:
                        todo.append(provided[option])
                        break
                else:
                    sys.exit(f"assemble: {name} needs {clause.strip()!r}, which is not installed")
    return sorted(chosen)


def _file_list(name: str, arch: str) -> list[str]:
    for candidate in (_INFO / f"{name}:{arch}.list", _INFO / f"{name}.list"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8").splitlines()
    sys.exit(f"assemble: no file list for {name} in {_INFO}")


def _copy(source: Path, root: Path) -> None:
    target = root / source.relative_to("/")
    if source.is_symlink():
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_symlink():
            os.symlink(os.readlink(source), target)
    elif source.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copystat(source, target)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    mode = target.lstat().st_mode
    if not stat.S_ISLNK(mode) and mode & (stat.S_ISUID | stat.S_ISGID):
        os.chmod(target, stat.S_IMODE(mode) & ~(stat.S_ISUID | stat.S_ISGID))


def runtime(root: Path) -> None:
    """Write the distroless tree to ROOT (see the module docstring)."""
    packages = installed_packages()
    chosen = closure(packages)
    status_dir = root / "var/lib/dpkg/status.d"
    status_dir.mkdir(parents=True)
    # Merged /usr: /bin, /lib, /lib64, ... are links into /usr, as in the builder.
    for top in sorted(Path("/").iterdir()):
        if top.is_symlink() and top.resolve().is_dir():
            (root / top.resolve().relative_to("/")).mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(top), root / top.name)
    for name in chosen:
        fields = packages[name]
        for path in _file_list(name, fields.get("Architecture", "")):
            source = Path(path)
            # Documentation, manual pages and translations were left out of the base (path-exclude).
            if path in ("/", "/.") or not (source.exists() or source.is_symlink()):
                continue
            _copy(source, root)
        (status_dir / name).write_text(fields["_raw"], encoding="utf-8")
    # Files made by maintainer scripts, which never run here: the CA bundle, the loader cache.
    for made in ("/etc/ssl/certs/ca-certificates.crt",):
        _copy(Path(made), root)
    # OpenSSL's default paths (the symlinks of the `openssl` package, which is left out).
    ssl_dir = root / "usr/lib/ssl"
    ssl_dir.mkdir(parents=True, exist_ok=True)
    os.symlink("/etc/ssl/certs", ssl_dir / "certs")
    os.symlink("/etc/ssl/certs/ca-certificates.crt", ssl_dir / "cert.pem")
    uid, gid, user = USER
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"{user}:x:{uid}:{gid}::/home/{user}:/usr/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        encoding="utf-8",
    )
    (root / "etc/group").write_text(
        f"root:x:0:\n{user}:x:{gid}:\nnogroup:x:65534:\n", encoding="utf-8"
    )
    for directory, mode in (("tmp", 0o1777), ("root", 0o700), (f"home/{user}", 0o755)):
        (root / directory).mkdir(parents=True, exist_ok=True)
        os.chmod(root / directory, mode)
    os.chown(root / f"home/{user}", uid, gid)
    subprocess.run(["/sbin/ldconfig", "-r", str(root)], check=True)  # noqa: S603
    # ldconfig's aux cache records inode numbers and change times: never the same twice.
    shutil.rmtree(root / "var/cache/ldconfig", ignore_errors=True)
    for tree in ("/opt/golden-path", "/etc/golden-path"):
        shutil.copytree(tree, root / tree.lstrip("/"), symlinks=True)
    flagged = [
        str(p)
        for p in root.rglob("*")
        if not p.is_symlink() and p.lstat().st_mode & (stat.S_ISUID | stat.S_ISGID)
    ]
    if flagged:
        sys.exit(f"assemble: setuid or setgid files left in the runtime: {flagged}")
    print(f"assemble: runtime of {len(chosen)} Debian packages: {' '.join(chosen)}")


def _purl_deb(fields: dict[str, str], distro: str) -> str:
    name, version, arch = fields["Package"], fields["Version"], fields.get("Architecture", "all")
    quoted = version.replace(":", "%3A").replace("+", "%2B")
    return f"pkg:deb/debian/{name}@{quoted}?arch={arch}&distro={distro}"


def sbom(root: Path, venv_sbom: Path, out: Path) -> None:
    """The venv SBOM (cyclonedx-py) with every Debian package of ROOT added as a component."""
    document = json.loads(venv_sbom.read_text(encoding="utf-8"))
    os_release = (root / "usr/lib/os-release").read_text(encoding="utf-8")
    version_id = re.search(r'^VERSION_ID="?([^"\n]*)', os_release, re.M)
    distro = f"debian-{version_id.group(1) if version_id else 'unknown'}"
    status_dir = root / "var/lib/dpkg/status.d"
    os_components = []
    for entry in sorted(status_dir.iterdir()):
        (fields,) = _paragraphs(entry.read_text(encoding="utf-8"))
        component = {
            "type": "library",
            "bom-ref": _purl_deb(fields, distro),
            "name": fields["Package"],
            "version": fields["Version"],
            "purl": _purl_deb(fields, distro),
            "properties": [
                {"name": "golden-path:layer", "value": "os"},
                {"name": "golden-path:source-package", "value": fields.get("Source", "")},
            ],
        }
        if fields["Package"].startswith("python3.11-minimal"):
            component["description"] = "the Python interpreter the venv runs on"
        os_components.append(component)
    for component in document.get("components", []):
        props = component.setdefault("properties", [])
        props.append({"name": "golden-path:layer", "value": "venv"})
        # golden-path itself is installed from a local wheel, so cyclonedx-py gives it no purl;
        # scanners and `golden-path versions --sbom` match Python packages by their pypi purl.
        component.setdefault("purl", f"pkg:pypi/{component['name']}@{component['version']}")
    operating_system = {
        "type": "operating-system",
        "bom-ref": f"os:{distro}",
        "name": "debian",
        "version": version_id.group(1) if version_id else "unknown",
    }
    document["components"] = [operating_system, *os_components, *document.get("components", [])]
    out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(
        f"assemble: SBOM with {len(os_components)} Debian packages and "
        f"{len(document['components']) - len(os_components) - 1} Python distributions"
    )


# ELF64 little-endian (x86_64, aarch64): the file header's section fields, a section header.
_ELF_SHOFF = struct.Struct("<Q")  # e_shoff, at 0x28
_ELF_COUNTS = struct.Struct("<HHHHH")  # e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
_ELF_SECTION = struct.Struct("<IIQQQQIIQQ")
_ELF_SEGMENT = struct.Struct("<IIQQQQQQ")
_SHF_ALLOC = 0x2
_SHT_NOBITS = 8


def strip_debug(data: bytes) -> bytes | None:
    """``data`` (an ELF64 little-endian shared object) without its ``.debug_*`` sections' bytes.

    None when there is nothing to drop (or the file is not such an object). The dynamic loader
    reads only program headers and the loaded bytes they cover; those stay byte for byte. The
    debug sections' headers stay too, emptied (type NULL), so no section index moves and the
    symbol table needs no rewriting; the other sections after the loaded bytes (symbol table,
    string tables, .comment) are packed after them, then the section header table.
    Deterministic: the same input gives the same output. What ``strip --strip-debug`` removes
    from a manylinux wheel's extension module, without binutils in the builder.
    """
    if data[:6] != b"\x7fELF\x02\x01":
        return None
    (shoff,) = _ELF_SHOFF.unpack_from(data, 0x28)
    (phoff,) = _ELF_SHOFF.unpack_from(data, 0x20)
    phentsize, phnum, shentsize, shnum, shstrndx = _ELF_COUNTS.unpack_from(data, 0x36)
    if shoff == 0 or shnum == 0 or shstrndx >= shnum or shentsize != _ELF_SECTION.size:
        return None
    sections = [list(_ELF_SECTION.unpack_from(data, shoff + i * shentsize)) for i in range(shnum)]
    names = sections[shstrndx]
    table = data[names[4] : names[4] + names[5]]

    def name(section: list[int]) -> bytes:
        return table[section[0] : table.index(b"\0", section[0])]

    loaded = max(
        (
            seg[2] + seg[5]
            for i in range(phnum)
            if (seg := _ELF_SEGMENT.unpack_from(data, phoff + i * phentsize))
        ),
        default=0,
    )
    for section in sections:
        if section[2] & _SHF_ALLOC and section[1] != _SHT_NOBITS:
            loaded = max(loaded, section[4] + section[5])
    # Only non-loaded sections past the loaded bytes move; a debug section anywhere else stays.
    tail = sorted(
        (i for i, s in enumerate(sections) if s[1] not in (0, _SHT_NOBITS) and s[4] >= loaded),
        key=lambda i: sections[i][4],
    )
    debug = [i for i in tail if name(sections[i]).startswith((b".debug", b".zdebug"))]
    if not debug:
        return None
    out = bytearray(data[:loaded])
    for i in tail:
        section = sections[i]
        if i in debug:
            sections[i] = [section[0], 0, 0, 0, 0, 0, 0, 0, 0, 0]
            continue
        align = max(section[8], 1)
        out += bytes(-len(out) % align)
        start, size = section[4], section[5]
        section[4] = len(out)
        out += data[start : start + size]
    out += bytes(-len(out) % 8)
    _ELF_SHOFF.pack_into(out, 0x28, len(out))
    for section in sections:
        out += _ELF_SECTION.pack(*section)
    return bytes(out)


def strip(site_packages: Path) -> None:
    """Drop the debug sections of every extension module in SITE_PACKAGES; fix their RECORDs.

    Some wheels ship their extension modules with full debug information: uvloop's is 13.6 MB,
    1.9 MB without it, which is what lets the image carry uvloop within its size budget. Each
    stripped file's line in its distribution's RECORD gets the new hash and size, so
    ``golden-path versions --check`` still verifies every installed file (an edit after the
    build is still caught); the wheels themselves were checked against the lock's hashes first.
    """
    saved = 0
    for record in sorted(site_packages.glob("*.dist-info/RECORD")):
        rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8"))))
        changed = False
        for row in rows:
            if not (row and row[0].endswith(".so") and row[1:2] and row[1]):
                continue
            path = site_packages / row[0]
            data = path.read_bytes()
            stripped = strip_debug(data)
            if stripped is None:
                continue
            path.write_bytes(stripped)
            digest = base64.urlsafe_b64encode(hashlib.sha256(stripped).digest()).rstrip(b"=")
            row[1:3] = [f"sha256={digest.decode('ascii')}", str(len(stripped))]
            saved += len(data) - len(stripped)
            changed = True
            print(f"assemble: {row[0]}: {len(data):,} -> {len(stripped):,} bytes")
        if changed:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(rows)
            record.write_text(buffer.getvalue(), encoding="utf-8")
    print(f"assemble: debug sections of extension modules: {saved / 1e6:.1f} MB dropped")


def main(argv: list[str]) -> None:
    """Dispatch the command line (see the module docstring)."""
    if argv[:1] == ["runtime"] and len(argv) == 2:
        runtime(Path(argv[1]))
    elif argv[:1] == ["strip"] and len(argv) == 2:
        strip(Path(argv[1]))
    elif argv[:1] == ["sbom"] and len(argv) == 4:
        sbom(Path(argv[1]), Path(argv[2]), Path(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
