using System.CommandLine;
using Microsoft.Extensions.Options;
using Warden.Core.Languages;
using Warden.Core.Sandboxing;
using Warden.Core.Workspaces;

namespace Warden.Cli.Commands;

/// <summary><c>warden doctor [--backend NAME]</c>: checks every prerequisite and prints the exact fix for each failure.</summary>
internal static class DoctorCommand
{
    public static Command Create()
    {
        var backend = CommonOptions.Backend();
        var config = CommonOptions.Config();
        var command = new Command("doctor", "Check that this host can run the chosen backend, and how to fix what is missing.") { backend, config };
        command.SetAction(async (parse, _) =>
        {
            var overrides = new Dictionary<string, string?>();
            if (parse.GetValue(backend) is { } b) overrides["Warden:Backend"] = b;
            try
            {
                await using var host = EngineHost.Create(parse.GetValue(config), overrides);
                var selector = host.Get<BackendSelector>();
                var chosen = selector.Selected;
                Console.WriteLine($"Warden doctor — backend '{chosen.Name}'");
                var probe = chosen.Probe();
                foreach (var check in probe.Checks)
                {
                    var mark = check.Ok ? "✔" : check.Required ? "✘" : "!";
                    Console.WriteLine($"{mark} {check.Name}: {check.Detail}");
                    if (!check.Ok && check.Fix is not null) Console.WriteLine($"    fix: {check.Fix}");
                }
                // The Open Terminal's users' homes: bounded filesystems (an ext4 image per user, or tmpfs), see docs/open-terminal.md.
                var homes = await host.Get<UserHomes>().ProbeAsync(CancellationToken.None);
                foreach (var check in homes)
                {
                    Console.WriteLine($"{(check.Ok ? "✔" : check.Required ? "✘" : "!")} {check.Name}: {check.Detail}");
                    if (!check.Ok && check.Fix is not null) Console.WriteLine($"    fix: {check.Fix}");
                }
                var catalog = host.Get<LanguageCatalog>();
                foreach (var definition in catalog.All)
                {
                    var installed = catalog.Installed.FirstOrDefault(l => l.Name == definition.Name);
                    Console.WriteLine(installed is null
                        ? $"- {definition.Name}: not installed ({string.Join(" or ", definition.Binaries)} missing)"
                        : $"✔ {definition.Name}: {installed.Binary} {catalog.GetVersion(installed)}");
                }
                Console.WriteLine(probe.CanRun
                    ? probe.Degraded ? "The backend can run, DEGRADED (see '!' above; needs WARDEN_ALLOW_DEGRADED=true)." : "The backend can run."
                    : "The backend cannot run on this host: fix the ✘ items above.");
                if (homes.Any(c => !c.Ok && c.Required)) Console.WriteLine("Open Terminal users' homes cannot be made: the terminal API answers 503 (fix the ✘ items above).");
                return probe.CanRun && !probe.Degraded && homes.All(c => c.Ok || !c.Required) ? 0 : 1;
            }
            catch (OptionsValidationException e)
            {
                await Console.Error.WriteLineAsync($"warden doctor: invalid configuration: {string.Join("; ", e.Failures)}");
                return 2;
            }
        });
        return command;
    }
}
