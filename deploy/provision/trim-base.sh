#!/bin/sh
# mmdebstrap customize hook: trims the new root file system ($1) the way the
# official slim images are trimmed, and (python flavour) gives Debian's
# python3.11 the paths the official image has, so the Dockerfile needs no branches.
set -eu
root=$1

rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
       "$root"/var/cache/ldconfig/* "$root"/var/log/* "$root"/tmp/*

# The rest is for the python flavour only.
[ -x "$root/usr/bin/python3.11" ] || exit 0

# The official image ships its standard library without byte code as well.
find "$root"/usr/lib/python3* -depth -type d -name __pycache__ -exec rm -rf {} +

for name in python3 python3.11 python; do
  ln -sf /usr/bin/python3.11 "$root/usr/local/bin/$name"
done
