import Foundation

/// `--ask-password`: one password, asked on the terminal (`/dev/tty`, as ssh and pssh's `-A` ask) with echo off.
enum PasswordPrompt {
    /// The line typed after `prompt`, without its newline; `nil` when there is no terminal to ask on. Ctrl-C while
    /// asking restores the terminal and exits 130.
    static func ask(_ prompt: String) -> String? {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard tcgetattr(fd, &savedTerminal) == 0 else { return nil }
        terminal = fd
        var quiet = savedTerminal
        quiet.c_lflag &= ~tcflag_t(ECHO)
        let previous = signal(SIGINT) { number in
            // Only async-signal-safe calls here: the terminal as it was, then the exit a shell expects.
            tcsetattr(terminal, TCSAFLUSH, &savedTerminal)
            _ = write(terminal, "\n", 1)
            _exit(128 + number)
        }
        defer { signal(SIGINT, previous) }
        _ = prompt.withCString { write(fd, $0, strlen($0)) }
        tcsetattr(fd, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(fd, TCSAFLUSH, &savedTerminal)
            _ = write(fd, "\n", 1)
        }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = read(fd, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") { break }
            line.append(byte)
        }
        defer { line.withUnsafeMutableBufferPointer { $0.initialize(repeating: 0) } }
        return String(decoding: line, as: UTF8.self)
    }
}

/// The terminal being asked on and its settings before, for the SIGINT handler (which can capture nothing).
nonisolated(unsafe) private var terminal: Int32 = -1
nonisolated(unsafe) private var savedTerminal = termios()
