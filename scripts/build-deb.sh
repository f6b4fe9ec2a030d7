#!/bin/bash
# Builds libnginx-mod-http-chatvisor_VERSION_ARCH.deb from what `make`
# built, laid out as Debian packages its own nginx modules (the
# libnginx-mod-* packages made with dh_nginx):
#
#   /usr/lib/nginx/modules/ngx_chatvisor_module.so
#   /usr/share/nginx/modules-available/mod-http-chatvisor.conf  (load_module)
#   /etc/nginx/modules-enabled/50-mod-http-chatvisor.conf       (postinst link)
#   /usr/bin/chatvisorctl, its man page, /usr/share/doc/PACKAGE/
#
# The control file is made by dpkg's own tools from packaging/debian/:
# dpkg-shlibdeps finds the library packages (liblmdb0, libcjson1, libssl3,
# libc6), and the nginx ABI comes from nginx-dev's substvars, the file
# dh_nginx reads, so the package installs only beside the nginx it was
# built for. No root needed: dpkg-deb --root-owner-group.
#
# Usage: scripts/build-deb.sh [OUT_DIR]    (default build/; the tree it
# packs is OUT_DIR/deb/); prints the path of the .deb
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build}
PKG=libnginx-mod-http-chatvisor
SRC=$ROOT/packaging/debian
MODULE=$ROOT/build/ngx_chatvisor_module.so
CTL=$ROOT/build/chatvisorctl
ABI_VARS=/usr/share/nginx/src/debian/libnginx-mod.abisubstvars

die() { echo "build-deb: $*" >&2; exit 1; }

for f in "$MODULE" "$CTL"; do
    [ -f "$f" ] || die "$f is missing; run make first"
done
[ -f "$ABI_VARS" ] || die "$ABI_VARS is missing (apt-get install nginx-dev)"
command -v dpkg-gencontrol >/dev/null || die "dpkg-gencontrol is missing (apt-get install dpkg-dev)"

VERSION=$(dpkg-parsechangelog -l "$SRC/changelog" -S Version)
ARCH=$(dpkg --print-architecture)
# every file gets the changelog's date: the same tree, the same .deb
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$SRC/changelog" -S Timestamp)
export SOURCE_DATE_EPOCH

# a source tree of its own for dpkg's tools, which read debian/ in the
# current directory
WORK=$OUT/deb
rm -rf "$WORK"
mkdir -p "$WORK/debian"
cp "$SRC/control" "$SRC/changelog" "$WORK/debian/"
P=$WORK/debian/$PKG
DOC=$P/usr/share/doc/$PKG

install -D -m 644 "$MODULE" "$P/usr/lib/nginx/modules/ngx_chatvisor_module.so"
install -D -m 755 "$CTL" "$P/usr/bin/chatvisorctl"
# as dh_strip does; the debug symbols stay in build/
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
    "$P/usr/lib/nginx/modules/ngx_chatvisor_module.so"
strip --remove-section=.comment --remove-section=.note "$P/usr/bin/chatvisorctl"
install -D -m 644 "$SRC/mod-http-chatvisor.conf" \
    "$P/usr/share/nginx/modules-available/mod-http-chatvisor.conf"
install -D -m 644 "$SRC/chatvisorctl.1" "$P/usr/share/man/man1/chatvisorctl.1"
gzip -9n "$P/usr/share/man/man1/chatvisorctl.1"

# the user documentation; as dh_compress does, files over 4 KiB gzipped
install -D -m 644 "$SRC/copyright" "$DOC/copyright"
install -m 644 "$SRC/changelog" "$DOC/changelog.Debian"
gzip -9n "$DOC/changelog.Debian"
install -m 644 "$ROOT/README.md" "$DOC/"
install -d -m 755 "$DOC/docs"
for f in install directives api webhooks cobrowse chat-endpoints; do
    [ -f "$ROOT/docs/$f.md" ] && install -m 644 "$ROOT/docs/$f.md" "$DOC/docs/"
done
install -m 644 "$ROOT/docs/openapi.json" "$DOC/docs/"
find "$DOC" -type f -size +4k ! -name '*.gz' ! -name copyright -exec gzip -9n {} +

install -d -m 755 "$P/DEBIAN"
for s in postinst prerm postrm; do
    install -m 755 "$SRC/$s" "$P/DEBIAN/$s"
done

# Depends: the nginx ABI, the shared libraries' packages
(
    cd "$WORK"
    grep '^nginx:abi=' "$ABI_VARS" > debian/substvars
    echo 'misc:Depends=' >> debian/substvars
    dpkg-shlibdeps -Tdebian/substvars \
        "debian/$PKG/usr/lib/nginx/modules/ngx_chatvisor_module.so" \
        "debian/$PKG/usr/bin/chatvisorctl"
    dpkg-gencontrol -p"$PKG" -ldebian/changelog -cdebian/control \
        -Tdebian/substvars -P"debian/$PKG"
)

(cd "$P" && find usr -type f | LC_ALL=C sort | xargs md5sum > DEBIAN/md5sums)
chmod 644 "$P/DEBIAN/control" "$P/DEBIAN/md5sums"
find "$P" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$OUT"
DEB=$OUT/${PKG}_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$P" "$DEB" > /dev/null
echo "$DEB"
