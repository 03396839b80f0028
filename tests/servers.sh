# Loopback servers for the shell tests; sourced after lib.sh.
#
# start_server SCRIPT DIR: start tests/SCRIPT (smtp_server.py or
# sms_gateway.py) on an ephemeral port, keeping what it receives in DIR;
# sets PORT. The server stops by itself when the test's shell is gone. Call
# it in the test's own shell, not in $(...): the server watches its parent.
# A test that cannot start it (Python module missing) is skipped.
start_server() {
    mkdir -p "$2"
    "$PYTHON" "$top_srcdir/tests/$1" "$2" 2> "$2.log" &
    for _ in $(seq 100); do
        [ -s "$2/port" ] && break
        sleep 0.1
    done
    PORT=$(cat "$2/port" 2>/dev/null) || {
        cat "$2.log" >&2
        echo "SKIP: cannot start tests/$1"
        exit 77
    }
}

# free_port: print a loopback TCP port nothing listens on.
free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
