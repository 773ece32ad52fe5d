using Microsoft.Extensions.Options;

namespace Warden.Server.Tests.NativeApi;

/// <summary>Invalid configuration stops start-up with a message naming the setting, before anything listens.</summary>
public sealed class StartupValidationTests
{
    [Theory]
    [InlineData("Warden:Limits:Default:TimeoutSeconds", "100", "Warden:Limits:Default:TimeoutSeconds")]
    [InlineData("Warden:Backend", "nope", "Warden:Backend")]
    [InlineData("Warden:MaxConcurrent", "0", "MaxConcurrent")]
    [InlineData("Warden:Limits:Default:MemoryMb", "4", "MemoryMb")]
    public async Task StartAsync_InvalidSetting_FailsNamingTheSetting(string key, string value, string named)
    {
        var app = WardenServer.Build(new ServerStartOptions
        {
            Overrides = new Dictionary<string, string?> { ["Warden:Urls"] = "http://127.0.0.1:0", [key] = value },
            Environment = new Dictionary<string, string?>(),
        });
        await using (app)
        {
            var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken))
                .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            Assert.Contains(named, string.Join("; ", error.Failures) + error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task StartAsync_UnparsableNumber_FailsNamingTheSetting()
    {
        var app = WardenServer.Build(new ServerStartOptions
        {
            Overrides = new Dictionary<string, string?> { ["Warden:Urls"] = "http://127.0.0.1:0", ["Warden:MaxConcurrent"] = "abc" },
            Environment = new Dictionary<string, string?>(),
        });
        await using (app)
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync(TestContext.Current.CancellationToken))
                .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            Assert.Contains("Warden:MaxConcurrent", error.Message, StringComparison.Ordinal);
        }
    }
}
