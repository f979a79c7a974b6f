"""Drives `stratosphere repl` through a pseudo-terminal, as a person would:
multi-line input, printed values, an error that keeps the session, Ctrl-C
at the prompt and during a loop, Tab completion, the history file, Up-arrow
recall and Ctrl-D. Run by repl_terminal.sh with the binary's path; the
current directory is a fresh folder, so the history goes to ./data.

Output is matched line by line after removing terminal escape sequences,
because libedit redraws the line it edits."""

import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios
import time

ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]")
WAIT_S = 5.0


class Repl:
    def __init__(self, binary):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["TERM"] = "xterm"
            os.execv(binary, [binary, "repl"])
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", 50, 120, 0, 0))
        self.raw = b""
        self.seen = 0  # lines before this index were matched already

    def lines(self):
        text = ESCAPES.sub(b"", self.raw).replace(b"\r", b"")
        return text.decode("utf-8", "replace").split("\n")

    def read(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # the child closed the terminal
            return False
        self.raw += chunk
        return len(chunk) > 0

    def expect(self, pattern, what):
        """Waits for a line after the last match that matches pattern."""
        deadline = time.monotonic() + WAIT_S
        regex = re.compile(pattern)
        while True:
            lines = self.lines()
            for i in range(self.seen, len(lines)):
                if regex.search(lines[i]):
                    self.seen = i + 1
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                fail(what, lines[self.seen:])
                return False
            self.read(min(left, 0.2))

    def type(self, text):
        os.write(self.fd, text.encode())

    def line(self, text):
        self.type(text + "\r")

    def settle(self):
        """Gives readline time to put the terminal back in raw mode, so
        a control key reaches it instead of the terminal driver."""
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            self.read(0.05)

    def wait_exit(self):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                return os.waitstatus_to_exitcode(status)
            self.read(0.1)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        return None


failures = []


def fail(what, lines):
    failures.append(what)
    print("FAIL: " + what)
    print("--- output since the last match:")
    for line in lines[-15:]:
        print("    " + line)


def main():
    binary = sys.argv[1]
    r = Repl(binary)
    r.expect(r"help\(\) lists the helpers", "no banner")

    # Multi-line input continues with ">> " and runs when complete.
    r.line("for i = 1, 3 do")
    r.expect(r"^>> ", "no continuation prompt")
    r.line('io.write("item", i, " ")')
    r.line("end print()")
    r.expect(r"^item1 item2 item3", "multi-line loop did not run")

    # An unfinished expression continues too.
    r.line("40 +")
    r.line("2")
    r.expect(r"^42$", "multi-line expression did not print 42")

    # Values print readably: nested tables, cut strings.
    r.line('{ name = "x", inner = { list = { 1, 2 } } }')
    r.expect(r'^\{ inner = \{ list = \{ 1, 2 \} \}, name = "x" \}$',
             "nested table not printed")
    r.line('= { s = ("a"):rep(300) }')
    r.expect(r"\.\.\. \(300 bytes\)", "long string not cut with its length")

    # An error prints and the session goes on.
    r.line('error("boom")')
    r.expect(r"stdin:1: boom", "error message missing")
    r.line('= "still " .. "here"')
    r.expect(r"^still here$", "session did not survive the error")

    # Ctrl-C at the prompt drops the unfinished statement.
    r.line("for i = 1, 2 do")
    r.expect(r"^>> ", "no continuation before Ctrl-C")
    r.settle()
    r.type("\x03")
    r.settle()
    r.line('= "after" .. "ctrl-c"')
    r.expect(r"^afterctrl-c$", "Ctrl-C did not cancel the statement")

    # Ctrl-C stops running code.
    r.line("while true do end")
    r.settle()
    r.type("\x03")
    r.expect(r"interrupted", "Ctrl-C did not stop the loop")
    r.line('= "alive"')
    r.expect(r"^alive$", "session did not survive the interrupt")

    # The preloaded helpers are there.
    r.line("print(type(probe), type(kb), type(overview), type(show))")
    r.expect(r"^table\s+table\s+function\s+function",
             "probe, kb or helpers missing")

    # Tab completes fields of globals and methods of objects.
    r.settle()
    r.type("printer.form\t")
    r.settle()
    r.line('("completed")')
    r.expect(r"^completed$", "Tab did not complete printer.format")
    r.type('= "kind: " .. type(probe.sq\t')
    r.settle()
    r.line(")")
    r.expect(r"^kind: function$", "Tab did not complete probe.sql")

    # Ctrl-D on an empty line leaves with status 0.
    r.line("last_one = 7 * 6")
    r.line('= "ready" .. "-to-leave"')
    r.expect(r"^ready-to-leave$", "no answer before Ctrl-D")
    r.settle()
    r.type("\x04")
    status = r.wait_exit()
    if status != 0:
        fail("Ctrl-D did not exit with status 0 (got %r)" % status, [])

    # History: statements, multi-line ones whole, in data/repl_history.
    try:
        with open("data/repl_history", "rb") as f:
            history = f.read()
        mode = os.stat("data/repl_history").st_mode & 0o777
    except OSError as e:
        fail("no history file: %s" % e, [])
        history, mode = b"", 0
    if b"last_one" not in history:
        fail("history lacks the last statement", [])
    if b"for\\040i\\040=\\0401,\\0403\\040do\\012" not in history:
        fail("history lacks the multi-line statement", [])
    if mode != 0o600:
        fail("history file mode is %o, not 600" % mode, [])

    # A new session recalls the statement before last with Up twice.
    r = Repl(binary)
    r.expect(r"help\(\) lists the helpers", "no banner in the new session")
    r.settle()
    r.type("\x1b[A\x1b[A")
    r.settle()
    r.type("\r")
    r.line("= last_one")
    r.expect(r"^42$", "Up did not recall the last statement")
    r.settle()
    r.type("\x04")
    if r.wait_exit() != 0:
        fail("second session did not exit with status 0", [])

    # A history that cannot be written is reported once, at the start,
    # with its path; the session works without it.
    os.rename("data/repl_history", "data/repl_history.saved")
    os.mkdir("data/repl_history")
    r = Repl(binary)
    r.expect(r"cannot write the history to .*data/repl_history "
             r"\(Is a directory\); history will not be saved",
             "no warning about the unwritable history")
    r.expect(r"help\(\) lists the helpers", "no banner after the warning")
    r.line('= "no" .. "-history"')
    r.expect(r"^no-history$", "session without history did not work")
    r.settle()
    r.type("\x04")
    if r.wait_exit() != 0:
        fail("session without history did not exit with status 0", [])
    warnings = [line for line in r.lines()
                if "cannot write the history" in line]
    if len(warnings) != 1:
        fail("expected one history warning, got %d" % len(warnings), warnings)

    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("repl_terminal: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
