using Microsoft.Extensions.Configuration;
using Warden.Core.Configuration;

namespace Warden.Core.Tests.Configuration;

public sealed class WardenConfigurationTests
{
    private static Dictionary<string, string?> Map(params (string Name, string? Value)[] variables) =>
        WardenConfiguration.FromEnvironment(variables.ToDictionary(v => v.Name, v => v.Value));

    [Theory]
    [InlineData("WARDEN_BACKEND", "auto", "Warden:Backend")]
    [InlineData("WARDEN_MAX_CONCURRENT", "3", "Warden:MaxConcurrent")]
    [InlineData("WARDEN_STATE_DIR", "/tmp/w", "Warden:StateDirectory")]
    [InlineData("WARDEN_DEFAULT_TIMEOUT", "7", "Warden:Limits:Default:TimeoutSeconds")]
    [InlineData("WARDEN_MAX_MEMORY_MB", "999", "Warden:Limits:Ceiling:MemoryMb")]
    [InlineData("WARDEN_BWRAP_PATH", "/opt/bwrap", "Warden:Bubblewrap:BwrapPath")]
    public void FromEnvironment_FlatName_MapsToCatalogKey(string variable, string value, string key)
    {
        var result = Map((variable, value));

        Assert.Equal(value, Assert.Single(result, kv => kv.Key == key).Value);
        Assert.Single(result);
    }

    [Fact]
    public void FromEnvironment_FlatNameInLowerCase_StillMaps()
    {
        var result = Map(("warden_backend", "bwrap"));

        Assert.Equal("bwrap", result["Warden:Backend"]);
    }

    [Fact]
    public void FromEnvironment_DoubleUnderscorePath_MapsToNestedKey()
    {
        var result = Map(("WARDEN_LIMITS__CEILING__MEMORYMB", "4096"));

        Assert.Equal("4096", result["Warden:LIMITS:CEILING:MEMORYMB"]);
    }

    [Fact]
    public void FromEnvironment_DoubleUnderscorePath_BindsCaseInsensitively()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(Map(("WARDEN_LIMITS__CEILING__MEMORYMB", "4096")))
            .Build();

        Assert.Equal("4096", configuration["Warden:Limits:Ceiling:MemoryMb"]);
    }

    [Fact]
    public void FromEnvironment_EnabledLanguages_SplitsCommaListIntoIndexedKeys()
    {
        var result = Map(("WARDEN_ENABLED_LANGUAGES", " python, bash ,,c "));

        Assert.Equal("python", result["Warden:EnabledLanguages:0"]);
        Assert.Equal("bash", result["Warden:EnabledLanguages:1"]);
        Assert.Equal("c", result["Warden:EnabledLanguages:2"]);
        Assert.Equal(3, result.Count);
    }

    [Fact]
    public void FromEnvironment_NonWardenVariables_Ignored()
    {
        var result = Map(("PATH", "/usr/bin"), ("HOME", "/root"), ("DOTNET_ROOT", "/x"), ("MY__NESTED", "1"), ("XWARDEN_BACKEND", "auto"));

        Assert.Empty(result);
    }

    [Fact]
    public void FromEnvironment_UnknownFlatWardenVariable_Ignored()
    {
        // Neither a catalog name nor a "__" path: not a setting, so it must not become one by accident.
        var result = Map(("WARDEN_SOMETHING_ELSE", "1"));

        Assert.Empty(result);
    }

    [Fact]
    public void AddWardenSources_OverridesBeatEnvironment()
    {
        var configuration = new ConfigurationBuilder()
            .AddWardenSources(null, new Dictionary<string, string?> { ["Warden:Backend"] = "from-override" },
                new Dictionary<string, string?> { ["WARDEN_BACKEND"] = "from-env", ["WARDEN_MAX_QUEUE"] = "5" })
            .Build();

        Assert.Equal("from-override", configuration["Warden:Backend"]);
        Assert.Equal("5", configuration["Warden:MaxQueue"]);
    }

    [Fact]
    public void AddWardenSources_MissingConfigFile_Throws()
    {
        Assert.Throws<FileNotFoundException>(() =>
            new ConfigurationBuilder().AddWardenSources("/nonexistent/warden-test.json", null, new Dictionary<string, string?>()));
    }
}
