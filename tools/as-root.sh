# Sourced by the install scripts: as_root sets $sudo to "" when running as root, else to
# "sudo" when it exists; otherwise it prints "error: $1 (run as root or install sudo)".
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        sudo=""
    elif command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "error: $1 (run as root or install sudo)" >&2
        exit 1
    fi
}
