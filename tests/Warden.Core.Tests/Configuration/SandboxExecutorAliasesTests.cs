using Microsoft.Extensions.Configuration;
using Warden.Core.Configuration;
using Warden.Core.Limits;

namespace Warden.Core.Tests.Configuration;

public sealed class SandboxExecutorAliasesTests
{
    private static Dictionary<string, string?> Map(params (string Name, string? Value)[] variables) =>
        WardenConfiguration.FromEnvironment(variables.ToDictionary(v => v.Name, v => v.Value));

    [Fact]
    public void FromEnvironment_SandboxExecutorEnvFile_MapsEveryName()
    {
        var result = Map(("MAX_EXECUTION_TIME", "30"), ("MAX_MEMORY_MB", "128"), ("MAX_CONCURRENT_EXECUTIONS", "20"), ("NETWORK_MODE", "none"),
            ("ENABLE_AUDIT_LOG", "true"), ("RATE_LIMIT_PER_MINUTE", "30"), ("RATE_LIMIT_BURST", "10"), ("ENABLE_PYTHON", "true"),
            ("ENABLE_SHELL", "false"), ("ENABLE_RUST", "false"), ("READ_ONLY_ROOT", "true"), ("DROP_ALL_CAPABILITIES", "true"));

        Assert.Equal("30", result["Warden:Limits:Ceiling:TimeoutSeconds"]);
        Assert.Equal("128", result["Warden:Limits:Ceiling:MemoryMb"]);
        Assert.Equal("128", result["Warden:Limits:Default:MemoryMb"]);
        Assert.False(result.ContainsKey("Warden:Limits:Default:TimeoutSeconds"));
        Assert.Equal("20", result["Warden:MaxConcurrent"]);
        Assert.Equal("false", result["Warden:Limits:AllowNetwork"]);
        Assert.Equal("true", result["Warden:Audit:Enabled"]);
        Assert.Equal("30", result["Warden:RateLimits:PerMinute"]);
        Assert.Equal("10", result["Warden:RateLimits:Burst"]);
        Assert.Equal(["rust", "bash", "sh"], result.Where(kv => kv.Key.StartsWith("Warden:DisabledLanguages:")).OrderBy(kv => kv.Key).Select(kv => kv.Value));
    }

    [Fact]
    public void FromEnvironment_WardenVariable_WinsOverAlias()
    {
        var result = Map(("MAX_CONCURRENT_EXECUTIONS", "20"), ("WARDEN_MAX_CONCURRENT", "3"));

        Assert.Equal("3", result["Warden:MaxConcurrent"]);
    }

    [Theory]
    [InlineData("MAX_MEMORY_MB", "lots")]
    [InlineData("MAX_EXECUTION_TIME", "-1")]
    [InlineData("MAX_CONCURRENT_EXECUTIONS", "2.5")]
    [InlineData("NETWORK_MODE", "overlay")]
    [InlineData("ENABLE_AUDIT_LOG", "maybe")]
    [InlineData("READ_ONLY_ROOT", "false")]
    [InlineData("RATE_LIMIT_BURST", "0")]
    public void FromEnvironment_InvalidAlias_ThrowsNamingTheVariable(string variable, string value)
    {
        var error = Assert.Throws<InvalidConfigurationException>(() => Map((variable, value)));

        Assert.Equal(variable, error.Setting);
        Assert.StartsWith(variable + ":", error.Message);
    }

    [Fact]
    public void Yaml_NestedSnakeCaseAndEnvironmentStyle_FlattenToKeys()
    {
        var path = Path.Combine(Path.GetTempPath(), $"warden-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, """
            warden:
              max_concurrent: 3
              limits:
                default:
                  timeout_seconds: 5
              enabled_languages: [python, bash]
            MAX_MEMORY_MB: 300
            """);
        try
        {
            var configuration = new ConfigurationBuilder().AddWardenSources(path, environment: new Dictionary<string, string?>()).Build();
            var warden = configuration.GetSection(WardenOptions.Section).Get<WardenOptions>()!;

            Assert.Equal(3, warden.MaxConcurrent);
            Assert.Equal(["python", "bash"], warden.EnabledLanguages);
            var limits = configuration.GetSection(LimitsOptions.Section).Get<LimitsOptions>()!;
            Assert.Equal(5, limits.Default.TimeoutSeconds);
            Assert.Equal(300, limits.Ceiling.MemoryMb);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Yaml_Malformed_ThrowsNamingTheFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"warden-{Guid.NewGuid():N}.yml");
        File.WriteAllText(path, "warden:\n  max_concurrent: [1,\n");
        try
        {
            var error = Assert.Throws<InvalidConfigurationException>(() => new ConfigurationBuilder().AddWardenSources(path, environment: new Dictionary<string, string?>()));
            Assert.Contains(path, error.Message);
            Assert.Contains("line", error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
