namespace Warden.Core.Sandboxing;

/// <summary>The synthetic /etc/passwd, /etc/group and /etc/hosts every sandbox sees instead of the host's.</summary>
internal static class SandboxIdentity
{
    public static void WriteFiles(string passwd, string group, string hosts, int uid, string home)
    {
        File.WriteAllText(passwd, $"root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{uid}:{uid}:sandbox:{home}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
        File.WriteAllText(group, $"root:x:0:\nsandbox:x:{uid}:\nnogroup:x:65534:\n");
        File.WriteAllText(hosts, "127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost\n");
        foreach (var f in new[] { passwd, group, hosts }) File.SetUnixFileMode(f, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }
}
