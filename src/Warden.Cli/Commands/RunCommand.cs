using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Core.Languages;
using Warden.Core.Limits;
using Warden.Server.Hosting;
using Warden.Server.NativeApi;

namespace Warden.Cli.Commands;

/// <summary>
/// <c>warden run [--backend B] [--language L] [--timeout S] [--memory MB] [--network] [--json] FILE|-</c>:
/// runs one program in a sandbox. Its stdout/stderr become ours and its exit code ours; with --json the HTTP API's result object is printed instead.
/// </summary>
internal static class RunCommand
{
    /// <summary>Exit codes when the program did not simply exit (as timeout(1) and shells do).</summary>
    public const int TimeoutExit = 124, SandboxErrorExit = 125, UsageExit = 2;

    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "Source file to run, or - to read the code from stdin." };
        var backend = CommonOptions.Backend();
        var config = CommonOptions.Config();
        var language = new Option<string?>("--language", "-l") { Description = "Language (default: from the file extension)." };
        var timeout = new Option<double?>("--timeout") { Description = "Wall-clock limit in seconds." };
        var memory = new Option<int?>("--memory") { Description = "Memory limit in MB." };
        var network = new Option<bool>("--network") { Description = "Ask for network access (the server must allow it)." };
        var json = new Option<bool>("--json") { Description = "Print the result object of the HTTP API instead of the program's output." };
        var command = new Command("run", "Run one program in a sandbox.") { file, backend, config, language, timeout, memory, network, json };
        command.SetAction((parse, cancellationToken) => RunAsync(
            parse.GetValue(file)!, parse.GetValue(backend), parse.GetValue(config), parse.GetValue(language),
            parse.GetValue(timeout), parse.GetValue(memory), parse.GetValue(network), parse.GetValue(json), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string file, string? backend, string? configFile, string? languageName, double? timeout,
        int? memory, bool network, bool json, CancellationToken cancellationToken)
    {
        string code;
        string stdin = "";
        try
        {
            if (file == "-")
            {
                code = await Console.In.ReadToEndAsync(cancellationToken);
            }
            else
            {
                code = await File.ReadAllTextAsync(file, cancellationToken);
                if (Console.IsInputRedirected) stdin = await Console.In.ReadToEndAsync(cancellationToken);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"warden run: cannot read {file}: {e.Message}");
            return UsageExit;
        }

        var overrides = new Dictionary<string, string?> { ["Warden:MaxConcurrent"] = "1", ["Warden:MaxQueue"] = "0" };
        if (backend is not null) overrides["Warden:Backend"] = backend;
        try
        {
            await using var host = EngineHost.Create(configFile, overrides);
            var catalog = host.Get<LanguageCatalog>();
            if (languageName is null)
            {
                var byExtension = file == "-" ? null : catalog.FindByExtension(Path.GetExtension(file));
                if (byExtension is null)
                {
                    await Console.Error.WriteLineAsync($"warden run: cannot tell the language of '{file}'; pass --language (available: {string.Join(", ", catalog.Installed.Select(l => l.Name))}).");
                    return UsageExit;
                }
                languageName = byExtension.Name;
            }
            var request = new ExecutionRequest
            {
                Language = languageName,
                Code = code,
                Stdin = stdin,
                Network = network,
                Limits = new LimitRequest { TimeoutSeconds = timeout, MemoryMb = memory },
            };
            var result = await host.Get<ExecutionEngine>().ExecuteAsync(request, cancellationToken);
            if (json)
            {
                Console.Out.Write(JsonSerializer.Serialize(ExecuteResponse.From(result), NativeJson.Options.Info<ExecuteResponse>()));
                Console.Out.WriteLine();
                return result.Status == ExecutionStatus.Success ? 0 : 1;
            }
            return await ReportAsync(result);
        }
        catch (WardenException e)
        {
            await Console.Error.WriteLineAsync($"warden run: {e.Message}");
            return UsageExit;
        }
        catch (OptionsValidationException e)
        {
            await Console.Error.WriteLineAsync($"warden run: invalid configuration: {string.Join("; ", e.Failures)}");
            return UsageExit;
        }
        catch (InvalidOperationException e)
        {
            await Console.Error.WriteLineAsync($"warden run: {e.Message}");
            return SandboxErrorExit;
        }
    }

    private static async Task<int> ReportAsync(ExecutionResult result)
    {
        if (result.Compile is { } compile)
        {
            await Console.Error.WriteAsync(compile.Stdout);
            await Console.Error.WriteAsync(compile.Stderr);
        }
        var run = result.Run;
        await Console.Out.WriteAsync(run.Stdout);
        await Console.Out.FlushAsync();
        await Console.Error.WriteAsync(run.Stderr);
        if (run.Status is not (ExecutionStatus.Success or ExecutionStatus.Error) && run.Error is not null)
            await Console.Error.WriteLineAsync($"warden: {result.Status.ToWireName()}: {run.Error}");
        return run.Status switch
        {
            ExecutionStatus.Success => 0,
            ExecutionStatus.Error or ExecutionStatus.CompileError when run.ExitCode is int code => code,
            ExecutionStatus.Timeout => TimeoutExit,
            ExecutionStatus.SandboxError => SandboxErrorExit,
            _ when run.Signal is int signal => 128 + signal,
            _ => 1,
        };
    }

    internal static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);
}
