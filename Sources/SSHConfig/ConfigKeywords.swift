/// The keywords OpenSSH 9.2 (Debian's build) accepts in `ssh_config`, lowercase, and the ones this package acts
/// on. A keyword outside the first set fails its file with file:line, as `ssh` does, unless `IgnoreUnknown`
/// names it; one in the first set but not the second is accepted and has no effect here.
enum ConfigKeywords {
    /// Every keyword `ssh -G -F none -o Keyword=…` accepts on OpenSSH 9.2 (checked against the local `ssh` by
    /// the tests), deprecated ones included.
    static let known: Set<String> = [
        "addkeystoagent", "addressfamily", "afstokenpassing", "batchmode", "bindaddress", "bindinterface",
        "canonicaldomains", "canonicalizefallbacklocal", "canonicalizehostname", "canonicalizemaxdots",
        "canonicalizepermittedcnames", "casignaturealgorithms", "certificatefile", "challengeresponseauthentication",
        "checkhostip", "cipher", "ciphers", "clearallforwardings", "compression", "compressionlevel",
        "connectionattempts", "connecttimeout", "controlmaster", "controlpath", "controlpersist",
        "dsaauthentication", "dynamicforward", "enableescapecommandline", "enablesshkeysign", "escapechar",
        "exitonforwardfailure", "fallbacktorsh", "fingerprinthash", "forkafterauthentication", "forwardagent",
        "forwardx11", "forwardx11timeout", "forwardx11trusted", "gatewayports", "globalknownhostsfile",
        "globalknownhostsfile2", "gssapiauthentication", "gssapiclientidentity", "gssapidelegatecredentials",
        "gssapikexalgorithms", "gssapikeyexchange", "gssapirenewalforcesrekey", "gssapiserveridentity",
        "gssapitrustdns", "hashknownhosts", "host", "hostbasedacceptedalgorithms", "hostbasedauthentication",
        "hostbasedkeytypes", "hostkeyalgorithms", "hostkeyalias", "hostname", "identitiesonly", "identityagent",
        "identityfile", "identityfile2", "ignoreunknown", "include", "ipqos", "kbdinteractiveauthentication",
        "kbdinteractivedevices", "keepalive", "kerberosauthentication", "kerberostgtpassing", "kexalgorithms",
        "knownhostscommand", "localcommand", "localforward", "loglevel", "logverbose", "macs", "match",
        "nohostauthenticationforlocalhost", "numberofpasswordprompts", "passwordauthentication",
        "permitlocalcommand", "permitremoteopen", "pkcs11provider", "port", "preferredauthentications", "protocol",
        "protocolkeepalives", "proxycommand", "proxyjump", "proxyusefdpass", "pubkeyacceptedalgorithms",
        "pubkeyacceptedkeytypes", "pubkeyauthentication", "rekeylimit", "remotecommand", "remoteforward",
        "requesttty", "requiredrsasize", "revokedhostkeys", "rhostsauthentication", "rhostsrsaauthentication",
        "rsaauthentication", "securitykeyprovider", "sendenv", "serveralivecountmax", "serveraliveinterval",
        "sessiontype", "setenv", "setuptimeout", "skeyauthentication", "smartcarddevice", "stdinnull",
        "streamlocalbindmask", "streamlocalbindunlink", "stricthostkeychecking", "syslogfacility", "tcpkeepalive",
        "tisauthentication", "tunnel", "tunneldevice", "updatehostkeys", "useblacklistedkeys", "useprivilegedport",
        "user", "userknownhostsfile", "userknownhostsfile2", "useroaming", "usersh", "verifyhostkeydns",
        "visualhostkey", "xauthlocation",
    ]

    /// Keywords whose every occurrence adds a value (the others keep the first value obtained).
    static let accumulating: Set<String> = [
        "identityfile", "certificatefile", "localforward", "remoteforward",
        "dynamicforward", "sendenv",
    ]

    /// Keywords whose value is the rest of the line, as written.
    static let rawCommand: Set<String> = ["proxycommand", "remotecommand", "localcommand", "knownhostscommand"]

    /// The keywords this package acts on (the resolved configuration maps them onto a connection).
    static let actedOn: [String] = [
        "user", "hostname", "port", "identityfile", "identitiesonly", "identityagent", "certificatefile",
        "preferredauthentications", "pubkeyauthentication", "passwordauthentication", "kbdinteractiveauthentication",
        "batchmode", "connecttimeout", "connectionattempts", "serveraliveinterval", "serveralivecountmax",
        "stricthostkeychecking", "userknownhostsfile", "globalknownhostsfile", "hashknownhosts", "hostkeyalias",
        "compression", "addressfamily", "sendenv", "setenv", "requesttty", "proxyjump", "proxycommand",
        "ciphers", "kexalgorithms", "macs", "hostkeyalgorithms", "gssapiauthentication", "gssapidelegatecredentials",
        "gssapiserveridentity", "gssapiclientidentity", "forwardagent",
    ]
}
