using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Execution;
using Warden.Core.Terminals;
using Warden.Server.Tests.OpenTerminal;

namespace Warden.Server.Tests.Fuzz;

/// <summary>Runs alone: it counts the test process's children and its server's processes, which parallel tests would change.</summary>
[CollectionDefinition(nameof(ApiFuzzCollection), DisableParallelization = true)]
public sealed class ApiFuzzCollection;

/// <summary>
/// The API fuzz test: requests generated from Warden's own OpenAPI documents (native, Jupyter REST, Open Terminal)
/// and the routes they leave out, each valid one mutated, against a real server with authentication on (bootstrap key,
/// stored keys, Jupyter password). Never a 5xx; every 4xx an RFC 7807 problem that names no .NET type; the server healthy
/// afterwards and nothing of its left on the host. Seed: <c>WARDEN_FUZZ_SEED</c> (printed); count: <c>WARDEN_FUZZ_REQUESTS</c>.
/// </summary>
[Collection(nameof(ApiFuzzCollection))]
public sealed partial class ApiFuzzTests
{
    public const int DefaultSeed = 160_016;
    private const int DefaultRequests = 3000;
    private const int DefaultSockets = 150;
    private const string Password = "fuzz-password-0123";
    private const int MaxCodeBytes = 65536, MaxStdinBytes = 65536;
    /// <summary>Kestrel's body limit for these settings (WardenServer: 6 × (code + stdin) + 64 KiB).</summary>
    private const long MaxBodyBytes = 6L * (MaxCodeBytes + MaxStdinBytes) + 65536;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);
    /// <summary>A bound on the whole run, so a slow machine stops early (said in the output) rather than holding CI.</summary>
    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task GeneratedRequests_NeverFail_AndLeaveNothingBehind()
    {
        var ct = TestContext.Current.CancellationToken;
        var seed = Setting("WARDEN_FUZZ_SEED", DefaultSeed);
        var total = Setting("WARDEN_FUZZ_REQUESTS", DefaultRequests);
        var socketCount = Setting("WARDEN_FUZZ_SOCKETS", DefaultSockets);
        var log = new StringBuilder();
        void Say(string line)
        {
            log.AppendLine(line);
            TestContext.Current.TestOutputHelper?.WriteLine(line);
        }
        Say($"fuzz seed {seed} (rerun one with WARDEN_FUZZ_SEED={seed}; try others with any integer), {total} requests, {socketCount} WebSocket conversations");

        var childrenBefore = HostLeftovers.ChildrenOfTestProcess();
        var terminal = await TerminalTestServer.StartAsync(new()
        {
            ["Warden:Jupyter:Password"] = Password,
            ["Warden:Limits:MaxCodeBytes"] = MaxCodeBytes.ToString(CultureInfo.InvariantCulture),
            ["Warden:Limits:MaxStdinBytes"] = MaxStdinBytes.ToString(CultureInfo.InvariantCulture),
            // Reaped quickly, so the leak check after the run does not wait long for users' sandboxes to go.
            ["Warden:Terminal:IdleTimeoutSeconds"] = "3",
        });
        var server = terminal.Server;
        var instance = server.Services.GetRequiredService<Warden.Core.Sandboxing.BackendSelector>().Selected.Status().Instance;
        var runDirectory = Path.Combine(terminal.StateDirectory, "run", instance);
        var failures = new List<string>();
        var statuses = new SortedDictionary<int, int>();
        int sent = 0;
        var watch = Stopwatch.StartNew();
        try
        {
            var state = await PrepareAsync(server, ct);
            var nativeDocument = JsonNode.Parse(await server.Client.GetStringAsync("/openapi.json", ct))!;
            var terminalDocument = JsonNode.Parse(await server.Client.GetStringAsync("/terminal/openapi.json", ct))!;
            var operations = OperationCatalog.Load(nativeDocument, terminalDocument, "/terminal");
            Say($"{operations.Count} operations: {string.Join(", ", operations.Select(o => o.Id))}");
            Assert.True(operations.Count >= 50, "the documents lost operations");

            await SettleAsync(server, ct);
            var before = HostLeftovers.Of(instance, runDirectory);
            var random = new Random(seed);
            var mutator = new RequestMutator(random, state, MaxBodyBytes);
            var order = new List<FuzzOperation>();
            for (int i = 0; i < total; i++)
            {
                if (order.Count == 0) order = [.. operations.OrderBy(_ => random.Next())];
                var operation = order[^1];
                order.RemoveAt(order.Count - 1);
                if (watch.Elapsed > Budget)
                {
                    Say($"stopped after {i} requests: the {Budget.TotalMinutes} min budget is spent (a slow or busy machine)");
                    break;
                }
                var request = mutator.Next(operation);
                sent++;
                FuzzResponse response;
                try
                {
                    response = await RawHttp.SendAsync(server.Address, request, RequestTimeout, ct);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or System.Net.Sockets.SocketException or InvalidDataException
                    && !ct.IsCancellationRequested)
                {
                    // A client that half-closes mid-body has hung up as far as Kestrel is concerned: nobody to answer.
                    if (request.Delivery == BodyDelivery.Truncated && e is not OperationCanceledException) continue;
                    failures.Add($"#{i} no answer ({e.GetType().Name}: {e.Message})\n  {request.Describe(server.Address.Authority)}");
                    continue;
                }
                statuses[response.Status] = statuses.GetValueOrDefault(response.Status) + 1;
                if (Judge(request, response) is { } problem)
                    failures.Add($"#{i} {problem}\n  {request.Describe(server.Address.Authority)}\n  answer: {Show(response)}");
                await FollowUpAsync(server, state, operation, response, ct);
            }
            Say($"{sent} requests in {watch.Elapsed.TotalSeconds:F0} s; statuses: {string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}"))}");

            var sockets = new SocketFuzz(random, state, mutator, operations.Single(o => o.Id == "execute"), server.Address);
            var socketWatch = Stopwatch.StartNew();
            int conversations = 0;
            for (int i = 0; i < socketCount && watch.Elapsed < Budget; i++, conversations++)
            {
                if (await sockets.NextAsync(await LiveKernelAsync(server, state, ct), ct) is { } problem) failures.Add($"socket #{i} {problem}");
            }
            Say($"{conversations} WebSocket conversations in {socketWatch.Elapsed.TotalSeconds:F0} s: {string.Join(", ", sockets.Outcomes.Select(o => $"{o.Key}×{o.Value}"))}");

            // Afterwards: healthy, and every object the fuzz made is gone once its owner is.
            await CleanUpAsync(server, ct);
            await SettleAsync(server, ct);
            failures.AddRange(await HealthProblemsAsync(server, ct));
            var leaked = await WaitForAsync(() => HostLeftovers.Of(instance, runDirectory).NewSince(before));
            failures.AddRange(leaked.Select(l => "left behind while running: " + l));
        }
        finally
        {
            await terminal.DisposeAsync();
        }
        var remaining = await WaitForAsync(() => HostLeftovers.Of(instance, runDirectory).NewSince(HostLeftovers.None));
        failures.AddRange(remaining.Select(l => "left behind after the server stopped: " + l));
        var children = await WaitForAsync(() => HostLeftovers.ChildrenOfTestProcess().Except(childrenBefore).ToList());
        failures.AddRange(children.Select(c => "child of the test process left: " + c));
        if (Directory.Exists(terminal.StateDirectory)) failures.Add("state directory left: " + terminal.StateDirectory);

        Say($"{failures.Count} failures");
        foreach (var f in failures.Take(40)) Say(f);
        Assert.True(failures.Count == 0, $"fuzz seed {seed}: {failures.Count} failures (rerun: WARDEN_FUZZ_SEED={seed})\n" + string.Join("\n", failures.Take(40)));
    }

    /// <summary>What is wrong with an answer, or null. The rules: no 5xx; each 4xx is a problem naming no type.</summary>
    internal static string? Judge(FuzzRequest request, FuzzResponse response)
    {
        var status = response.Status;
        if (status >= 500) return $"answered {status}";
        if (status < 400) return null;
        // Kestrel refuses bytes no HTTP request may hold before Warden sees them: a bare 400/414/431 is all it can say.
        if (request.ProtocolHostile && status is 400 or 414 or 431 && response.Body.Length == 0) return null;
        var type = response.ContentType?.Split(';')[0].Trim();
        if (type != "application/problem+json") return $"{status} with Content-Type '{response.ContentType}', not application/problem+json";
        if (request.Method == "HEAD") return null;
        JsonElement problem;
        try
        {
            problem = JsonDocument.Parse(response.Body).RootElement.Clone();
        }
        catch (JsonException)
        {
            return $"{status} problem is not JSON";
        }
        if (problem.ValueKind != JsonValueKind.Object) return $"{status} problem is not an object";
        if (!problem.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String) return $"{status} problem without a type";
        if (!problem.TryGetProperty("title", out var title) || title.ValueKind != JsonValueKind.String) return $"{status} problem without a title";
        if (!problem.TryGetProperty("status", out var s) || !s.TryGetInt32(out var n) || n != status) return $"{status} problem whose status is not {status}";
        if (DotNetName().Match(response.BodyText) is { Success: true } leak) return $"{status} problem names a .NET type ('{leak.Value}')";
        return null;
    }

    /// <summary>Type names an answer must never carry (the serializer's and the binder's own words).</summary>
    [GeneratedRegex(@"System\.[A-Z]\w+|Microsoft\.[A-Z]\w+|Warden\.(Core|Server)\.\w+|`\d|\b(Int16|Int32|Int64|UInt32|Nullable|Boolean|Double|Single|Decimal|DateTimeOffset|JsonElement)\b|\b(int|long|double|bool|string)\?\s")]
    private static partial Regex DotNetName();

    /// <summary>Polls until <paramref name="find"/> comes back empty (processes and cgroups go asynchronously), for up to 20 s.</summary>
    private static async Task<List<string>> WaitForAsync(Func<List<string>> find)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        var found = find();
        while (found.Count > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
            found = find();
        }
        return found;
    }

    private static string Show(FuzzResponse response)
    {
        var body = response.BodyText;
        return $"{response.Status} {response.ContentType} {(body.Length > 400 ? body[..400] + "…" : body)}";
    }

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : fallback;
}
