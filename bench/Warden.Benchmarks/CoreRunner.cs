using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Configuration;
using Warden.Core.Execution;
using Warden.Core.Hosting;
using Warden.Core.Languages;
using Warden.Core.Limits;
using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Bubblewrap;

namespace Warden.Benchmarks;

/// <summary>Warden through the Core API: an in-process <see cref="ExecutionEngine"/>, built the way the CLI builds it.</summary>
internal sealed class CoreRunner : IAsyncDisposable
{
    private readonly ServiceProvider _provider;

    private CoreRunner(ServiceProvider provider)
    {
        _provider = provider;
        Engine = provider.GetRequiredService<ExecutionEngine>();
        Limits = provider.GetRequiredService<LimitPolicy>();
        Languages = provider.GetRequiredService<LanguageCatalog>();
    }

    public ExecutionEngine Engine { get; }

    public BubblewrapBackend Backend => (BubblewrapBackend)Engine.Backend;

    public LimitPolicy Limits { get; }

    public LanguageCatalog Languages { get; }

    public static async Task<CoreRunner> StartAsync(IReadOnlyDictionary<string, string?> overrides)
    {
        // No environment: WARDEN_* variables of whoever runs the benchmark must not change what is measured.
        var configuration = new ConfigurationBuilder().AddWardenSources(null, overrides, new Dictionary<string, string?>()).Build();
        var services = new ServiceCollection();
        services.AddLogging(); // no providers: logging costs what a quiet production server pays
        services.AddWardenCore(configuration);
        var runner = new CoreRunner(services.BuildServiceProvider());
        // Slots, cgroups and parked helpers are created here, before anything is timed.
        await runner.Engine.Backend.StartAsync(CancellationToken.None).ConfigureAwait(false);
        return runner;
    }

    public async Task<double> ExecuteAsync(Workload workload)
    {
        var clock = Stopwatch.StartNew();
        var result = await Engine.ExecuteAsync(new ExecutionRequest { Language = workload.Language, Code = workload.Code }, CancellationToken.None)
            .ConfigureAwait(false);
        double ms = clock.Elapsed.TotalMilliseconds;
        workload.Check("Warden Core", result.Run.Stdout, $"{result.Status} {result.Run.Error} {result.Run.Stderr}");
        return ms;
    }

    /// <summary>
    /// The steps <see cref="ExecutionEngine.ExecuteAsync"/> takes for an interpreted language, done one by one so each
    /// can be timed: take a slot, write the source, run (helper exec → bwrap → program), give the slot back (which
    /// sweeps the cgroup, remounts the workspace and parks the next helper before the call returns).
    /// </summary>
    public async Task<CorePhases> PhasesAsync(Workload workload)
    {
        var language = Languages.Resolve(workload.Language);
        var mainFile = language.Definition.MainFileName;
        var limits = Limits.Resolve(null);
        var clock = Stopwatch.StartNew();
        var sandbox = await Engine.Backend.AcquireAsync(CancellationToken.None).ConfigureAwait(false);
        double acquired = clock.Elapsed.TotalMilliseconds;
        await sandbox.WriteFilesAsync([new SourceFile(mainFile, workload.Code)], CancellationToken.None).ConfigureAwait(false);
        double written = clock.Elapsed.TotalMilliseconds;
        var argv = language.Expand(language.Definition.Run, sandbox.WorkspacePath, mainFile);
        var outcome = await sandbox.RunAsync(new SandboxCommand(argv, SandboxEnvironment.For(language), []), limits, CancellationToken.None)
            .ConfigureAwait(false);
        double ran = clock.Elapsed.TotalMilliseconds;
        await sandbox.DisposeAsync().ConfigureAwait(false);
        double released = clock.Elapsed.TotalMilliseconds;
        workload.Check("Warden Core phases", System.Text.Encoding.UTF8.GetString(outcome.Stdout), outcome.SandboxError ?? "");
        return new CorePhases(acquired, written - acquired, ran - written, released - ran, released);
    }

    public async ValueTask DisposeAsync() => await _provider.DisposeAsync().ConfigureAwait(false);
}

internal sealed record CorePhases(double Acquire, double WriteFiles, double Run, double Release, double Total);
