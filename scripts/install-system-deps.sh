#!/usr/bin/env bash
# Installs the Debian packages DiscoverVoice needs (run as root on Debian 12 "bookworm").
#
#   scripts/install-system-deps.sh            # runtime + tests: ffmpeg, libsndfile, corpus tools
#   scripts/install-system-deps.sh --browser  # also chromium for the browser tests
#
# The corpus builder needs MBROLA voices, which Debian ships in contrib / non-free.
# LICENCE NOTE: the MBROLA voice databases (mbrola-XX) are free for NON-COMMERCIAL use
# only. Corpus files sung by them inherit that restriction; the manifest records it per file.
set -euo pipefail
SRC=/etc/apt/sources.list.d/discovervoice-contrib.sources
if [ ! -f "$SRC" ]; then
  cat > "$SRC" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
PKGS=(ffmpeg libsndfile1 sox espeak-ng mbrola fluidsynth fluid-soundfont-gm
      festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
      hydrogen-drumkits fillets-ng-data-cs klettres-data alsa-utils
      # corpus: a second training soundfont (GPL-2), the evaluation-only soundfont
      # (MuseScore General, reserved for the test split), game music + Czech transcripts
      timgm6mb-soundfont musescore-general-soundfont-small fillets-ng-data)
# every MBROLA voice Debian packages (each a different recorded person)
mapfile -t MB < <(apt-cache search --names-only '^mbrola-[a-z]+[0-9]*$' | awk '{print $1}')
PKGS+=("${MB[@]}")
if [ "${1:-}" = "--browser" ]; then PKGS+=(chromium); fi
apt-get install -y -qq --no-install-recommends "${PKGS[@]}"
