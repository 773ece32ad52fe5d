set -e
ip link set lo up
/usr/bin/python3 -c '
import socket,time
s=socket.socket(); s.bind(("127.0.0.1",3128)); s.listen()
s.settimeout(40)
try:
  c,_=s.accept(); c.send(b"hello-from-3128"); c.close()
except Exception as e: pass
' &
L=$!
sleep 0.5
ls -la /proc/self/ns/net
timeout 60 runsc --root /tmp/egspike/root --network=host --ignore-cgroups --platform ptrace run --bundle /tmp/egspike/bundle spike1 2>&1 | tail -30
kill $L 2>/dev/null || true
