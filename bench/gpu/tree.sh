#!/usr/bin/env bash
# What of the working tree travels to a device machine with the kit: its tracked files and the untracked
# files git does not ignore. The large test data (test/fixtures, test/model/data: about 40 MiB) is not needed
# there (the kit carries its own small parity subset), so for the duration of a device call it is kept out of
# git's index and ignored; the files themselves stay where they are.
#
#   bash bench/gpu/tree.sh hide      take the paths out of the index and ignore them (.git/info/exclude)
#   bash bench/gpu/tree.sh restore   put them back in the index and drop the ignore lines (safe to repeat)
#   bash bench/gpu/tree.sh status    hidden or not
#   bash bench/gpu/tree.sh size      bytes of the tree that would travel with the paths hidden (a number)
#
# While hidden, `git status` shows the paths as deleted: restore before committing. hide refuses when those
# paths have staged changes, and undoes its own work if it is interrupted.
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"

HIDDEN=(test/fixtures test/model/data)
exclude="$(git rev-parse --git-path info/exclude)"
marker="$(git rev-parse --git-path sam2-webgpu-kit-hidden)"
BEGIN='# sam2-webgpu device kit: hidden while a device call runs (bash bench/gpu/tree.sh restore)'
END='# end of sam2-webgpu device kit'

restore() {
  git reset -q -- "${HIDDEN[@]}" 2>/dev/null || true
  if [ -f "$exclude" ] && grep -qF "$BEGIN" "$exclude"; then
    awk -v b="$BEGIN" -v e="$END" '$0 == b { skip = 1; next } $0 == e { skip = 0; next } !skip' "$exclude" >"$exclude.tmp"
    mv "$exclude.tmp" "$exclude"
  fi
  rm -f "$marker"
}

hidden() { [ -f "$marker" ]; }

# Bytes of the tracked files outside the hidden paths plus the untracked files git does not ignore.
travel_bytes() {
  local excl=()
  for p in "${HIDDEN[@]}"; do excl+=(":(exclude)$p"); done
  { git ls-files -z -- . "${excl[@]}"; git ls-files -z -o --exclude-standard -- . "${excl[@]}"; } |
    xargs -0 -r stat -c %s -- 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'
}

case "${1:-}" in
  hide)
    if hidden; then
      echo "tree.sh: already hidden (${HIDDEN[*]})"
      exit 0
    fi
    if ! git diff --cached --quiet -- "${HIDDEN[@]}"; then
      echo "tree.sh: staged changes under ${HIDDEN[*]} would be lost; commit or unstage them first:" >&2
      git diff --cached --name-only -- "${HIDDEN[@]}" | sed 's/^/  /' >&2
      exit 1
    fi
    trap 'echo "tree.sh: interrupted; restoring" >&2; restore; exit 130' INT TERM
    trap 'restore' ERR
    : >"$marker"
    mkdir -p "$(dirname "$exclude")"
    { echo "$BEGIN"; for p in "${HIDDEN[@]}"; do echo "/$p/"; done; echo "$END"; } >>"$exclude"
    git rm -r -q --cached -- "${HIDDEN[@]}"
    trap - INT TERM ERR
    echo "tree.sh: hidden from git until 'bash bench/gpu/tree.sh restore': ${HIDDEN[*]}"
    echo "tree.sh: the tree that travels: $(travel_bytes | awk '{ printf "%.2f MiB", $1 / 1048576 }')"
    ;;
  restore)
    restore
    echo "tree.sh: restored ${HIDDEN[*]}"
    ;;
  status)
    if hidden; then echo "hidden: ${HIDDEN[*]}"; else echo "not hidden"; fi
    ;;
  size)
    travel_bytes
    ;;
  *)
    echo "usage: bash bench/gpu/tree.sh hide|restore|status|size" >&2
    exit 2
    ;;
esac
