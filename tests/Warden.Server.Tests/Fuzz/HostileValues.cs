namespace Warden.Server.Tests.Fuzz;

/// <summary>
/// What an attacker (or a confused client) puts where a value goes. Nothing here blocks or runs long when it reaches a
/// shell or an interpreter as a command (no <c>cat</c>, no <c>rm -rf /</c>, no endless loops): a fuzz request must stay cheap.
/// </summary>
internal static class HostileValues
{
    public static readonly string[] Strings =
    [
        "", " ", "\t", "\n", "../../../../etc/passwd", "..\\..\\..\\windows\\win.ini", "/etc/shadow", "/proc/self/environ", "/proc/1/root",
        "/dev/zero", "....//....//etc/passwd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "~", "~root/.ssh/id_rsa", "/", ".", "..", "a/../../b",
        "\0", "a\0b", "\u0001\u0002\u001b[31mred", "line1\r\nX-Injected: 1", "ünïcødé ✓ 🚀 中文", "\u202eexe.txt", "\ufeffbom", "\u0085\u2028\u2029",
        "'; DROP TABLE api_keys; --", "\" OR \"1\"=\"1", "${jndi:ldap://127.0.0.1/x}", "{{7*7}}", "%s%s%s%n", "<script>alert(1)</script>",
        "$(id)", "`id`", "; id", "| id", "*", "**/*", "[", "(a+)+$", "NaN", "Infinity", "-1", "0", "1e999", "true", "null", "None", "[]", "{}",
        "C:\\Windows", "\\\\server\\share", "file:///etc/passwd", "http://169.254.169.254/latest/meta-data/", "..%00/x",
    ];

    /// <summary>Long strings, built on demand (some are most of the body size limit).</summary>
    public static string Long(Random random) => random.Next(4) switch
    {
        0 => new string('a', 10_000),
        1 => new string('x', 100_000),
        2 => string.Concat(Enumerable.Repeat("é✓", 20_000)),
        _ => string.Concat(Enumerable.Repeat("../", 3_000)),
    };

    /// <summary>JSON number tokens, some not JSON at all (<c>NaN</c>, <c>0x10</c>): written raw into the body.</summary>
    public static readonly string[] NumberTokens =
    [
        "0", "-1", "1", "-0", "0.5", "3.14159", "2147483647", "2147483648", "-2147483649", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "1e308", "1e309", "-1e309", "1e-400", "1E+2", "100000", "300.0001", "86401", "1048577", "65537", "17179869185",
        "NaN", "Infinity", "-Infinity", "01", "+1", ".5", "0x10", "1_000",
    ];

    /// <summary>Query and header numbers: the same ideas as text.</summary>
    public static readonly string[] NumberTexts =
    [
        "0", "-1", "1.5", "2147483648", "-9223372036854775809", "1e308", "1e999", "NaN", "Infinity", "-Infinity", "abc", "", " ", "0x10", "1,5",
        "١٢٣", "null", "None", "true", "[1]", "1;2", "+1", "300.5",
    ];

    public static readonly string[] Ids =
    [
        "0", "-1", "nonexistent", "00000000000000000000000000000000", "ffffffffffffffffffffffffffffffff", "a", "../../etc/passwd", "..%2f..%2fetc",
        "%2e%2e", "ünï", "' OR 1=1 --", "${jndi:ldap://x}", "<script>", "null", "9999999999999999999999", "ab cd", "kernel;rm", "%25", "~",
    ];

    /// <summary>A bounded set of hostile user ids: each distinct one may start a terminal sandbox, so the set stays small.</summary>
    public static readonly string[] UserIds =
    [
        "", " ", "../../../etc", "a/b", "\u0001ctrl", "ünïcødé-üser", new string('u', 300), "null", "0", "${jndi:x}", "<script>", "..",
    ];

    public static readonly string[] ChatIds = ["", "../../..", "/etc", "a/../../b", "\u0001", "ü", new string('c', 1000), ".", "..", "chats", "%2e%2e"];

    public static readonly string[] ContentTypes =
    [
        "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=", "application/json; charset=utf-16",
        "application/json; charset=latin1", "application/jsonp", "application/problem+json", "application/*", "*/*", ";", "application/json, text/plain",
        "", "application/x-json-stream", "text/json", "application/json; " + new string('a', 1000), "application/xml", "image/png",
    ];

    public static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "FUZZ", "get"];

    public static IEnumerable<string> Cookies(string validLogin, string xsrf) =>
    [
        // Out of DateTimeOffset's range: a crafted expiry once made password mode answer 500.
        "warden-jupyter-login=999999999999999.x",
        "warden-jupyter-login=-999999999999999.x",
        "warden-jupyter-login=9223372036854775807.x",
        "warden-jupyter-login=1.x",
        "warden-jupyter-login=abc.def",
        "warden-jupyter-login=.",
        "warden-jupyter-login=",
        "warden-jupyter-login=4102444800.0000000000000000000000000000000000000000000000000000000000000000",
        "warden-jupyter-login=" + validLogin + "x",
        "warden-jupyter-login=" + new string('9', 4000),
        "_xsrf=" + xsrf + "; warden-jupyter-login=" + validLogin,
        "_xsrf=; warden-jupyter-login=" + validLogin,
        "_xsrf=" + new string('x', 4000),
        "warden-jupyter-login=a; warden-jupyter-login=b",
        "=; ; ;=",
        "\u00e9=\u00e9",
    ];

    public static IEnumerable<string> Authorizations(string bootstrap) =>
    [
        "Bearer", "Bearer ", "Bearer  " + bootstrap + " ", "Basic Zm9vOmJhcg==", "Bearer " + new string('k', 8000), "token " + bootstrap + "x",
        "Bearer " + bootstrap + "\u0001", "Bearer " + bootstrap + " extra", "bearer " + bootstrap.ToUpperInvariant(), "Bearer ünïcødé", "Negotiate x",
        "Bearer null", "Token",
    ];

    public static readonly string[] HeaderNames =
    [
        "X-Chat-Id", "X-User-Name", "X-Warden-Max-Files-Per-Execution", "X-Warden-Max-Files-Per-User", "X-Warden-Max-Megabytes-Per-User",
        "X-Forwarded-For", "X-Real-IP", "X-XSRFToken", "X-CSRFToken", "Accept", "Accept-Encoding", "Origin", "X-Warden-Replica", "Expect",
        "Sec-WebSocket-Protocol", "If-None-Match", "Range", "Accept-Language",
    ];

    /// <summary>Bytes that are not UTF-8 (a lone continuation byte, an overlong form, an encoded surrogate, a truncated sequence).</summary>
    public static readonly byte[][] InvalidUtf8 = [[0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98], [0x80], [0xfe, 0xfe]];
}
