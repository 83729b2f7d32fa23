#!/bin/sh
# Install ecgviewer for the current user (no root needed), from the release archive:
#
#   tar xzf ecgviewer-<version>-linux-x86_64.tar.gz
#   ./ecgviewer-<version>-linux-x86_64/install.sh            # install into ~/.local
#   ./ecgviewer-<version>-linux-x86_64/install.sh --uninstall
#
# What it does (PREFIX defaults to ~/.local; set ECGVIEWER_PREFIX to change it):
#   PREFIX/lib/ecgviewer/                  the application folder (replaced atomically)
#   PREFIX/bin/ecgviewer                   a link to it, for the terminal
#   PREFIX/share/applications/ecgviewer.desktop   the launcher (menus, "Open with")
#   PREFIX/share/icons/hicolor/*/apps/ecgviewer.{png,svg}
#   PREFIX/share/mime/packages/ecgviewer.xml      .hea, .h5/.hdf5, .csv file types
# then refreshes the MIME, desktop and icon caches and makes ecgviewer the default
# application for WFDB headers (.hea), and for HDF5 files (.h5/.hdf5) when no other
# program is their default yet (--default-hdf5 forces it). CSV files only get
# "Open with ecgviewer": spreadsheets stay their default.
set -eu

usage() {
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
}

UNINSTALL=0
FORCE_HDF5=0
for arg in "$@"; do
    case "$arg" in
        --uninstall) UNINSTALL=1 ;;
        --default-hdf5) FORCE_HDF5=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${ECGVIEWER_PREFIX:-$HOME/.local}
APPDIR=$PREFIX/lib/ecgviewer
BINLINK=$PREFIX/bin/ecgviewer
APPS=$PREFIX/share/applications
ICONS=$PREFIX/share/icons/hicolor
MIME=$PREFIX/share/mime
SIZES="16 32 48 64 128 256 512"

refresh_caches() {
    if command -v update-mime-database >/dev/null 2>&1; then
        update-mime-database "$MIME" >/dev/null 2>&1 || echo "warning: update-mime-database failed" >&2
    fi
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database "$APPS" >/dev/null 2>&1 || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -d "$ICONS" ]; then
        gtk-update-icon-cache -f -t -q "$ICONS" >/dev/null 2>&1 || true
    fi
}

if [ "$UNINSTALL" = 1 ]; then
    rm -rf "$APPDIR" "$APPDIR.new"
    [ -L "$BINLINK" ] && rm -f "$BINLINK"
    rm -f "$APPS/ecgviewer.desktop" "$MIME/packages/ecgviewer.xml" "$ICONS/scalable/apps/ecgviewer.svg"
    for s in $SIZES; do rm -f "$ICONS/${s}x${s}/apps/ecgviewer.png"; done
    refresh_caches
    echo "ecgviewer removed from $PREFIX (your imported models in ~/.local/share/ecgviewer are kept)"
    exit 0
fi

# The application folder: beside this script in the release archive, or the bundle this
# script is part of (<app>/_internal/resources/linux/install.sh).
if [ -x "$HERE/ecgviewer/ecgviewer" ]; then
    SRC=$HERE/ecgviewer
elif [ -x "$HERE/../../../ecgviewer" ]; then
    SRC=$(cd "$HERE/../../.." && pwd)
else
    echo "install.sh: cannot find the ecgviewer application folder next to $0" >&2
    exit 1
fi
RES=$SRC/_internal/resources
[ -d "$RES" ] || RES=$SRC/resources
for f in "$RES/linux/ecgviewer.desktop" "$RES/linux/ecgviewer-mime.xml" "$RES/icons/ecgviewer.svg"; do
    [ -f "$f" ] || { echo "install.sh: $f is missing; the archive is incomplete" >&2; exit 1; }
done

mkdir -p "$PREFIX/lib" "$PREFIX/bin" "$APPS" "$MIME/packages" "$ICONS/scalable/apps"

# Copy the app next to its final place, then swap it in (a running old copy keeps working).
if [ "$SRC" != "$APPDIR" ]; then
    rm -rf "$APPDIR.new"
    cp -a "$SRC" "$APPDIR.new"
    rm -rf "$APPDIR.old"
    [ -d "$APPDIR" ] && mv "$APPDIR" "$APPDIR.old"
    mv "$APPDIR.new" "$APPDIR"
    rm -rf "$APPDIR.old"
fi
ln -sfn "$APPDIR/ecgviewer" "$BINLINK"
RES=$APPDIR/_internal/resources
[ -d "$RES" ] || RES=$APPDIR/resources

# Launcher with absolute paths (~/.local/bin is not always on a desktop session's PATH).
sed -e "s|^Exec=ecgviewer |Exec=\"$APPDIR/ecgviewer\" |" -e "s|^TryExec=.*|TryExec=$APPDIR/ecgviewer|" \
    "$RES/linux/ecgviewer.desktop" > "$APPS/ecgviewer.desktop.tmp"
mv "$APPS/ecgviewer.desktop.tmp" "$APPS/ecgviewer.desktop"
chmod 644 "$APPS/ecgviewer.desktop"

cp "$RES/linux/ecgviewer-mime.xml" "$MIME/packages/ecgviewer.xml"
cp "$RES/icons/ecgviewer.svg" "$ICONS/scalable/apps/ecgviewer.svg"
for s in $SIZES; do
    if [ -f "$RES/icons/ecgviewer-$s.png" ]; then
        mkdir -p "$ICONS/${s}x${s}/apps"
        cp "$RES/icons/ecgviewer-$s.png" "$ICONS/${s}x${s}/apps/ecgviewer.png"
    fi
done

refresh_caches

# Default application for exam files (double-click opens them in ecgviewer).
if command -v xdg-mime >/dev/null 2>&1; then
    xdg-mime default ecgviewer.desktop application/x-wfdb-header || true
    current=$(xdg-mime query default application/x-hdf 2>/dev/null || true)
    if [ "$FORCE_HDF5" = 1 ] || [ -z "$current" ]; then
        xdg-mime default ecgviewer.desktop application/x-hdf || true
    elif [ "$current" != "ecgviewer.desktop" ]; then
        echo "note: .h5/.hdf5 files stay with $current (run install.sh --default-hdf5 to change that)"
    fi
else
    echo "note: xdg-mime not found; choose ecgviewer once with \"Open with\" for .hea/.h5 files"
fi

echo "ecgviewer installed in $APPDIR"
echo "  start it from the applications menu, double-click an exam file, or run: $BINLINK"
case ":$PATH:" in
    *":$PREFIX/bin:"*) ;;
    *) echo "  ($PREFIX/bin is not on your PATH; the menu entry works regardless)" ;;
esac
