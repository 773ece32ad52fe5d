using System.Text.Json.Nodes;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Docker;

/// <summary>
/// The Engine API body of a session's container. Pure, like <see cref="DockerRenderer"/>: the session's
/// <see cref="SandboxSpec"/> rendered as a keeper body, so a session gets exactly the keeper's hardening (read-only root, no capabilities, no-new-privileges, Warden's
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
    /// <param name="trust">With network: the CA files of a proxy that terminates TLS, bound for the container's life (null: none).</param>
    public static JsonObject Container(string image, string user, string? volume, string? supportHost, string instance, SessionSpec spec, string runtime,
        Egress.EgressTrustFiles? trust = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var limits = spec.Limits;
        // One spec, as every sandbox: a persistent home is an unsized workspace (a bind), otherwise the fresh volume.
        var workspace = spec.Workspace is { } persistent
            ? new WorkspaceMount(persistent.HostDirectory, persistent.SandboxPath)
            : new WorkspaceMount(volume ?? "", SandboxSpecBuilder.DefaultWorkspace, limits.WorkspaceBytes);
        IReadOnlyList<ReadOnlyBind>? support = supportHost is null ? null : [new ReadOnlyBind(supportHost, spec.SupportDirectory)];
        var sandbox = SandboxSpecBuilder.Build(new SandboxBase(new ImageRoot(image), []), DockerBackend.ConfiguredUser(user), limits, spec.Command,
            workspace, support, egress: limits.Network ? new EgressEndpoint(null, trust) : null);
        var body = DockerRenderer.Keeper(sandbox, instance, runtime);
        var host = (JsonObject)body["HostConfig"]!;
        // Nothing mounted later on either side of a bind reaches the other.
        foreach (var mount in ((JsonArray)host["Mounts"]!).OfType<JsonObject>().Where(m => (string?)m["Type"] == "bind"))
            mount["BindOptions"] = new JsonObject { ["Propagation"] = "rprivate" };

        // The session's CPU time, for the life of the kernel as bwrap's rlimit is: a ulimit here, since unlike a keeper's
        // stages a session's program is the container's own. Soft: SIGXCPU; hard a second later: SIGKILL.
        long cpu = Math.Max(1, (long)Math.Ceiling(limits.CpuTime.TotalSeconds));
        ((JsonArray)host["Ulimits"]!).Add((JsonNode)new JsonObject { ["Name"] = "cpu", ["Soft"] = cpu, ["Hard"] = cpu + 1 });
        // The spec's environment, not the command's: for egress it carries the proxy variables the builder adds.
        body["Cmd"] = Command(spec.Command with
        {
            Environment = sandbox.Environment.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal),
        });
        // The daemon adds PATH, HOSTNAME and HOME to the container's environment; env -i in Cmd gives the program exactly
        // Warden's, as bwrap's --clearenv does. Env stays empty so nothing else is promised here.
        body["Env"] = new JsonArray();
        // The program's stdio is the session's channel: attached before start, stdin closed when Warden closes its end.
        body["OpenStdin"] = true;
        body["StdinOnce"] = true;
        body["AttachStdin"] = true;
        body["AttachStdout"] = true;
        body["AttachStderr"] = true;
        body["Tty"] = false;
        ((JsonObject)body["Labels"]!)[SessionLabel] = "session-" + spec.Name;
        foreach (var mount in ((JsonArray)host["Mounts"]!).OfType<JsonObject>())
            if (mount["VolumeOptions"]?["Labels"] is JsonObject labels) labels[SessionLabel] = "session-" + spec.Name;
        return body;
    }

    /// <summary>The workspace volume of a session without a persistent workspace, labelled with the session too.</summary>
    public static JsonObject Volume(string name, string instance, string sessionName, long bytes, string user)
    {
        var volume = DockerRenderer.Volume(name, bytes, DockerBackend.ConfiguredUser(user), instance);
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
            argv.Add((JsonNode)$"{key}={value}");
        }
        // The program itself must not be taken for an assignment.
        argv.Add((JsonNode)(command.Argv[0].Contains('=', StringComparison.Ordinal) ? "./" + command.Argv[0] : command.Argv[0]));
        foreach (var a in command.Argv.Skip(1)) argv.Add((JsonNode)a);
        return argv;
    }
}
