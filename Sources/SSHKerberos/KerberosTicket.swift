import CGSSAPI

/// The Kerberos side of `gssapi-with-mic`, done before an engine's GSSAPI call: the client's credentials are found
/// and the service ticket for the host is fetched into the credential cache. MIT krb5's GSSAPI has no non-blocking
/// form (a first `gss_init_sec_context` for a host asks the KDC over the network), so this runs on a blocking pool;
/// the engine's own call then finds the ticket cached and does no network I/O on the loop.
public enum KerberosTicket {
    /// The Kerberos 5 mechanism, the one `gssapi-with-mic` logins use in practice.
    private static var mechanism: gss_OID { cgssapi_mech_krb5() }

    /// Gets ready to authenticate to `host@<service>` as `client` (the default principal when `nil`); returns why
    /// not, in words (no credentials, an expired ticket, a principal the KDC does not know, a KDC out of reach),
    /// or `nil` when the service ticket is in the cache. Blocking: call off the loops.
    /// - Parameter delegate: whether the ticket-granting ticket is to be forwarded (it must then be forwardable).
    public static func prepare(service: String, client: String?, delegate: Bool) -> String? {
        var minor: OM_uint32 = 0
        var target: gss_name_t?
        if let problem = importName("host@" + service, type: cgssapi_nt_hostbased_service(), into: &target) {
            return "the service name host@\(service): \(problem)"
        }
        defer { gss_release_name(&minor, &target) }

        // The client's credentials, named or the default ones: missing or expired, said so here (libssh would only
        // report the server's refusal).
        var credential: gss_cred_id_t?
        defer { if credential != nil { gss_release_cred(&minor, &credential) } }
        var name: gss_name_t?
        defer { if name != nil { gss_release_name(&minor, &name) } }
        if let client {
            if let problem = importName(client, type: cgssapi_nt_user_name(), into: &name) {
                return "the client principal \(client): \(problem)"
            }
        }
        var lifetime: OM_uint32 = 0
        var major = gss_acquire_cred(
            &minor, name, GSS_C_INDEFINITE, nil, gss_cred_usage_t(GSS_C_INITIATE), &credential, nil, &lifetime)
        if cgssapi_is_error(major) != 0 { return describe(major: major, minor: minor) }
        if lifetime == 0 { return "the Kerberos ticket has expired (kinit gets a new one)" }

        var context: gss_ctx_id_t?
        var output = gss_buffer_desc()
        var flags = OM_uint32(GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG)
        if delegate { flags |= OM_uint32(GSS_C_DELEG_FLAG) }
        major = gss_init_sec_context(
            &minor, credential, &context, target, mechanism, flags, 0, nil, nil, nil, &output, nil, nil)
        var ignored: OM_uint32 = 0
        gss_release_buffer(&ignored, &output)
        if context != nil { gss_delete_sec_context(&ignored, &context, nil) }
        guard cgssapi_is_error(major) == 0 else {
            return describe(major: major, minor: minor) + " (asking for host@\(service))"
        }
        return nil
    }

    /// `gss_import_name`; its failure in words, or `nil`.
    private static func importName(_ text: String, type: gss_OID, into name: inout gss_name_t?) -> String? {
        var minor: OM_uint32 = 0
        var bytes = Array(text.utf8)
        let major = bytes.withUnsafeMutableBytes { raw in
            var buffer = gss_buffer_desc(length: raw.count, value: raw.baseAddress)
            return gss_import_name(&minor, &buffer, type, &name)
        }
        return cgssapi_is_error(major) != 0 ? describe(major: major, minor: minor) : nil
    }

    /// The GSSAPI's own words for a failure: the mechanism's message (krb5's, e.g. "Ticket expired") where there is
    /// one, else the general one.
    static func describe(major: OM_uint32, minor: OM_uint32) -> String {
        let mechanismText = minor != 0 ? messages(minor, type: GSS_C_MECH_CODE) : []
        let generalText = messages(major, type: GSS_C_GSS_CODE)
        let text = (mechanismText.isEmpty ? generalText : mechanismText).joined(separator: "; ")
        return text.isEmpty ? "GSSAPI error \(major)/\(minor)" : text
    }

    /// Every message `gss_display_status` has for `code`.
    private static func messages(_ code: OM_uint32, type: Int32) -> [String] {
        var lines: [String] = []
        var more: OM_uint32 = 0
        repeat {
            var minor: OM_uint32 = 0
            var buffer = gss_buffer_desc()
            let major = gss_display_status(&minor, code, type, mechanism, &more, &buffer)
            guard cgssapi_is_error(major) == 0 else { break }
            if let value = buffer.value, buffer.length > 0 {
                let text = String(
                    decoding: UnsafeRawBufferPointer(start: value, count: buffer.length), as: UTF8.self)
                if !text.isEmpty { lines.append(text) }
            }
            gss_release_buffer(&minor, &buffer)
        } while more != 0 && lines.count < 4
        return lines
    }
}
