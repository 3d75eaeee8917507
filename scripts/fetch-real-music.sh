#!/usr/bin/env bash
# Unpack (not install) the Debian packages of recorded music that the corpus' real-songs
# part uses, into DIR (default data/music-root), for
#   discovervoice corpus build --parts real-songs --music-root DIR ...
# apt-get download + dpkg -x: no root needed beyond apt's cache, nothing is installed.
# Licences: each package's usr/share/doc/<pkg>/copyright (recorded per file in the corpus
# manifest). The packages DESIGN.md reserves for evaluation are never fetched here.
set -euo pipefail
DIR=${1:-data/music-root}
PKGS=(warzone2100-music nexuiz-music singularity-music asc-music wesnoth-1.16-music
      drascula-music fb-music-high hyperrogue-music planetblupi-music-ogg)
mkdir -p "$DIR/.debs"
cd "$DIR/.debs"
for p in "${PKGS[@]}"; do
  ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download "$p"
  dpkg -x "${p}"_*.deb ..
done
echo "unpacked ${#PKGS[@]} packages under $DIR"
