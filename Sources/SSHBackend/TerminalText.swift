/// Text from elsewhere (a server's error message, a remote file name, a host name) made safe to print on a
/// terminal, as OpenSSH's `utf8.c` does since the fixes for CVE-2019-6109 and CVE-2019-6110: control and escape
/// characters become `\ooo` octal escapes (`vis(3)`'s `VIS_OCTAL`), so a server cannot move the cursor, rewrite
/// a line, set the window title (OSC) or hide text. Tab, and with `keepingLineBreaks` newline and carriage
/// return, stay as they are.
public enum TerminalText {
    /// `text` with every control character (C0, DEL, C1) but tab (and line breaks, when kept) escaped as `\ooo`
    /// per UTF-8 byte.
    public static func sanitized(_ text: String, keepingLineBreaks: Bool = true) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0, keepingLineBreaks: keepingLineBreaks) }) else {
            return text
        }
        var result = ""
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar, keepingLineBreaks: keepingLineBreaks) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            for byte in String(scalar).utf8 {
                let octal = String(byte, radix: 8)
                result += "\\" + String(repeating: "0", count: 3 - octal.count) + octal
            }
        }
        return result
    }

    /// Whether `scalar` is escaped.
    package static func needsEscape(_ scalar: Unicode.Scalar, keepingLineBreaks: Bool) -> Bool {
        switch scalar.value {
        case 0x09: return false
        case 0x0A, 0x0D: return !keepingLineBreaks
        default: return isControl(scalar)
        }
    }

    /// Whether `scalar` is a control character: C0, DEL or C1.
    package static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value)
    }
}
