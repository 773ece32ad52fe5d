using System.Text.Json.Nodes;

namespace Warden.Core.Sandboxing.Seccomp;

/// <summary>
/// <see cref="SeccompPolicy"/> as an OCI / Docker seccomp profile (the JSON both runtimes take), for backends that
/// install the filter through their runtime rather than through bwrap's compiled BPF program.
/// </summary>
internal static class SeccompProfileJson
{
    private const int EPERM = 1, EACCES = 13, ENOSYS = 38;

    public static JsonObject Build(bool network, SeccompProfileOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var denied = SeccompPolicy.Denied.Where(n => !(options.AllowSyslog && n == "syslog"));
        var rules = new JsonArray
        {
            (JsonNode)new JsonObject { ["names"] = new JsonArray([.. denied.Select(n => (JsonNode)n)]), ["action"] = "SCMP_ACT_ERRNO", ["errnoRet"] = EPERM },
        };
        if (options.DenyClone3) rules.Add((JsonNode)new JsonObject { ["names"] = new JsonArray("clone3"), ["action"] = "SCMP_ACT_ERRNO", ["errnoRet"] = ENOSYS });
        foreach (var flag in SeccompPolicy.NamespaceCloneFlags)
            rules.Add((JsonNode)Rule("clone", EPERM, new JsonObject { ["index"] = 0, ["value"] = flag, ["valueTwo"] = flag, ["op"] = "SCMP_CMP_MASKED_EQ" }));
        foreach (var request in SeccompPolicy.DeniedIoctls)
            rules.Add((JsonNode)Rule("ioctl", EPERM, new JsonObject { ["index"] = 1, ["value"] = 0xffffffffUL, ["valueTwo"] = request, ["op"] = "SCMP_CMP_MASKED_EQ" }));
        var allowed = network ? new[] { SeccompPolicy.AF_UNIX, SeccompPolicy.AF_INET, SeccompPolicy.AF_INET6 } : [SeccompPolicy.AF_UNIX];
        foreach (var family in Enumerable.Range(0, 46).Where(f => !allowed.Contains(f)))
            rules.Add((JsonNode)Rule("socket", EACCES, new JsonObject { ["index"] = 0, ["value"] = family, ["op"] = "SCMP_CMP_EQ" }));
        return new JsonObject
        {
            ["defaultAction"] = "SCMP_ACT_ALLOW",
            ["architectures"] = new JsonArray("SCMP_ARCH_X86_64"),
            ["syscalls"] = rules,
        };
    }

    private static JsonObject Rule(string name, int errno, JsonObject arg) => new()
    {
        ["names"] = new JsonArray(name), ["action"] = "SCMP_ACT_ERRNO", ["errnoRet"] = errno, ["args"] = new JsonArray(arg),
    };
}
