using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Warden.Core;
using Warden.Core.Configuration;
using Warden.Core.Execution;
using Warden.Core.Languages;
using Warden.Server.Hosting;
using Warden.Server.LocalRun;
using Warden.Server.NativeApi;

namespace Warden.Cli.Commands;

/// <summary>
/// <c>warden run [--backend B] [--language L] [--timeout S] [--memory MB] [--network] [--json] FILE|-</c>:
/// runs one program in a sandbox. Its stdout/stderr become ours and its exit code ours; with --json the HTTP API's result object is printed instead.
/// When a <c>warden serve</c> of the same state directory runs, the program is handed to it (<see cref="LocalRunClient"/>)
/// and runs in one of its warm sandboxes; otherwise this process starts the one sandbox the run needs.
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

        var request = new LocalRunRequest(file, languageName, code, stdin, timeout, memory, network);
        // A local `warden serve` already has warm sandboxes: hand the run over unless this run asks for settings of its own.
        if (backend is null && configFile is null)
        {
            using var server = LocalRunClient.TryConnect(StateDirectory(), out var refused);
            if (refused is not null) await Console.Error.WriteLineAsync($"warden run: not handing over to the local server: {refused}; running in-process.");
            if (server is not null) return await HandOverAsync(server, request, json, cancellationToken);
        }
        return await RunInProcessAsync(request, backend, configFile, json, cancellationToken);
    }

    private static string StateDirectory() =>
        new ConfigurationBuilder().AddWardenSources(null, new Dictionary<string, string?>()).Build()["Warden:StateDirectory"]
        ?? WardenOptions.DefaultStateDirectory();

    private static async Task<int> HandOverAsync(LocalRunClient server, LocalRunRequest request, bool json, CancellationToken cancellationToken)
    {
        LocalRunReply reply;
        try
        {
            reply = await server.RunAsync(request, cancellationToken);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or JsonException)
        {
            // The program may have run already: never run it a second time in-process.
            await Console.Error.WriteLineAsync($"warden run: the local server did not answer: {e.Message}");
            return SandboxErrorExit;
        }
        if (reply.UsageError is { } usage)
        {
            await Console.Error.WriteLineAsync($"warden run: {usage}");
            return UsageExit;
        }
        if (reply.Result is not { } result)
        {
            await Console.Error.WriteLineAsync($"warden run: {reply.Failure ?? "the local server gave no result"}");
            return SandboxErrorExit;
        }
        return await ReportAsync(result, json);
    }

    private static async Task<int> RunInProcessAsync(LocalRunRequest request, string? backend, string? configFile, bool json,
        CancellationToken cancellationToken)
    {
        // One run needs one slot and no warm pool: a warm sandbox started now would only be thrown away at exit.
        var overrides = new Dictionary<string, string?> { ["Warden:MaxConcurrent"] = "1", ["Warden:MaxQueue"] = "0", ["Warden:Pool:Enabled"] = "false" };
        if (backend is not null) overrides["Warden:Backend"] = backend;
        try
        {
            await using var host = EngineHost.Create(configFile, overrides);
            var language = LocalRunLanguage.Resolve(host.Get<LanguageCatalog>(), request.File, request.Language);
            var result = await host.Get<ExecutionEngine>().ExecuteAsync(LocalRunLanguage.ToExecution(request, language), cancellationToken);
            return await ReportAsync(ExecuteResponse.From(result), json);
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

    /// <summary>The same output and exit code whichever way the program ran.</summary>
    private static async Task<int> ReportAsync(ExecuteResponse result, bool json)
    {
        var status = Enum.GetValues<ExecutionStatus>().First(s => s.ToWireName() == result.Status);
        if (json)
        {
            Console.Out.Write(JsonSerializer.Serialize(result, NativeJson.Options.Info<ExecuteResponse>()));
            Console.Out.WriteLine();
            return status == ExecutionStatus.Success ? 0 : 1;
        }
        if (result.Compile is { } compile)
        {
            await Console.Error.WriteAsync(compile.Stdout);
            await Console.Error.WriteAsync(compile.Stderr);
        }
        await Console.Out.WriteAsync(result.Stdout);
        await Console.Out.FlushAsync();
        await Console.Error.WriteAsync(result.Stderr);
        if (status is not (ExecutionStatus.Success or ExecutionStatus.Error) && result.Error is not null)
            await Console.Error.WriteLineAsync($"warden: {result.Status}: {result.Error}");
        return status switch
        {
            ExecutionStatus.Success => 0,
            ExecutionStatus.Error or ExecutionStatus.CompileError when result.ExitCode is int code => code,
            ExecutionStatus.Timeout => TimeoutExit,
            ExecutionStatus.SandboxError => SandboxErrorExit,
            _ when result.Signal is int signal => 128 + signal,
            _ => 1,
        };
    }

    internal static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);
}
