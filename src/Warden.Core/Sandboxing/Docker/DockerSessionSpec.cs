using System.Text.Json.Nodes;
using Warden.Core.Limits;

namespace Warden.Core.Sandboxing.Docker;

/// <summary>
/// The Engine API body of a session's container. Pure, like <see cref="DockerContainerSpec"/>, and built on its keeper
/// body so a session gets exactly the keeper's hardening (read-only root, no capabilities, no-new-privileges, Warden's
/// seccomp profile, network per the limits, tini as init, memory without swap, pids, CPU, ulimits); only what a
/// long-lived program needs differs: its command, its stdio, its user and its mounts.
/// </summary>
internal static class DockerSessionSpec
{
    /// <summary>
    /// <c>session-{name}</c> (<see cref="SessionSpec.Name"/>), as bwrap names a session's slot and cgroup: on the
    /// session's container and its workspace volume.
    /// </summary>
    public const string SessionLabel = "dev.warden.session";

    /// <param name="user">The keeper user, or the persistent workspace's own uid:gid.</param>
    /// <param name="volume">The fresh workspace volume; null with a persistent workspace.</param>
    /// <param name="supportHost">The host directory of the support files, bound read-only; null when there are none.</param>
    public static JsonObject Container(string image, string user, string? volume, string? supportHost, string instance, SessionSpec spec, string runtime)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var limits = spec.Limits;
        var body = DockerContainerSpec.Keeper(image, user, volume ?? "", instance, limits, runtime);
        var host = (JsonObject)body["HostConfig"]!;
        var mounts = new JsonArray();
        if (spec.Workspace is { } persistent) mounts.Add(Bind(persistent.HostDirectory, persistent.SandboxPath, readOnly: false));
        else mounts.Add(new JsonObject { ["Type"] = "volume", ["Source"] = volume, ["Target"] = DockerContainerSpec.Workspace });
        if (supportHost is not null) mounts.Add(Bind(supportHost, spec.SupportDirectory, readOnly: true));
        host["Mounts"] = mounts;

        // The session's CPU time, for the life of the kernel as bwrap's rlimit is: a ulimit here, since unlike a keeper's
        // stages a session's program is the container's own. Soft: SIGXCPU; hard a second later: SIGKILL.
        long cpu = Math.Max(1, (long)Math.Ceiling(limits.CpuTime.TotalSeconds));
        ((JsonArray)host["Ulimits"]!).Add(new JsonObject { ["Name"] = "cpu", ["Soft"] = cpu, ["Hard"] = cpu + 1 });
        body["Cmd"] = Command(spec.Command);
        // The daemon adds PATH, HOSTNAME and HOME to the container's environment; env -i in Cmd gives the program exactly
        // Warden's, as bwrap's --clearenv does. Env stays empty so nothing else is promised here.
        body["Env"] = new JsonArray();
        body["WorkingDir"] = spec.Workspace?.SandboxPath ?? DockerContainerSpec.Workspace;
        // The program's stdio is the session's channel: attached before start, stdin closed when Warden closes its end.
        body["OpenStdin"] = true;
        body["StdinOnce"] = true;
        body["AttachStdin"] = true;
        body["AttachStdout"] = true;
        body["AttachStderr"] = true;
        body["Tty"] = false;
        ((JsonObject)body["Labels"]!)[SessionLabel] = "session-" + spec.Name;
        return body;
    }

    /// <summary>The workspace volume of a session without a persistent workspace, labelled with the session too.</summary>
    public static JsonObject Volume(string name, string instance, string sessionName, long bytes, string user)
    {
        var volume = DockerContainerSpec.Volume(name, instance, bytes, user);
        ((JsonObject)volume["Labels"]!)[SessionLabel] = "session-" + sessionName;
        return volume;
    }

    /// <summary>The program under exactly Warden's environment.</summary>
    public static JsonArray Command(SandboxCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Argv.Count == 0) throw new ArgumentException("A session command needs a program.", nameof(command));
        // "--" ends env's options, so no variable can be taken for one; each NAME=VALUE up to the first word without '='
        // is an assignment. A name with '=' cannot be expressed and is refused rather than split differently.
        var argv = new JsonArray("/usr/bin/env", "-i", "--");
        foreach (var (key, value) in command.Environment.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (key.Length == 0 || key.Contains('=', StringComparison.Ordinal)) throw new ArgumentException($"Bad environment variable name '{key}'.", nameof(command));
            argv.Add($"{key}={value}");
        }
        // The program itself must not be taken for an assignment.
        argv.Add(command.Argv[0].Contains('=', StringComparison.Ordinal) ? "./" + command.Argv[0] : command.Argv[0]);
        foreach (var a in command.Argv.Skip(1)) argv.Add(a);
        return argv;
    }

    private static JsonObject Bind(string source, string target, bool readOnly) => new()
    {
        ["Type"] = "bind",
        ["Source"] = source,
        ["Target"] = target,
        ["ReadOnly"] = readOnly,
        // Nothing mounted later on either side reaches the other.
        ["BindOptions"] = new JsonObject { ["Propagation"] = "rprivate" },
    };
}
