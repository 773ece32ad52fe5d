using Warden.Core.Execution;
using Warden.Core.Languages;

namespace Warden.Core.Tests.Languages;

public sealed class LanguageCatalogTests : IDisposable
{
    // A file that exists stands in for an installed interpreter, so the tests do not depend on what the host has.
    private readonly string _fakeBinary = Path.GetTempFileName();
    private readonly List<string> _tempFiles = [];

    public void Dispose()
    {
        File.Delete(_fakeBinary);
        foreach (var f in _tempFiles) File.Delete(f);
    }

    private LanguageDefinition Definition(string name, string[]? aliases = null, string? binary = null) => new()
    {
        Name = name,
        Aliases = aliases ?? [],
        Extension = "." + name,
        Binaries = [binary ?? _fakeBinary],
        Run = ["{bin}", "{main}"],
    };

    private string WriteCatalog(string json)
    {
        var path = Path.GetTempFileName();
        _tempFiles.Add(path);
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void LoadDefinitions_BuiltInCatalog_ParsesEveryCoreLanguage()
    {
        var all = LanguageCatalog.LoadDefinitions(null);

        foreach (var name in new[] { "python", "javascript", "bash", "sh", "c", "c++", "java", "perl" })
            Assert.Contains(all, l => l.Name == name);
        Assert.All(all, l => Assert.NotEmpty(l.Run));
        Assert.All(all, l => Assert.All(l.Binaries, b => Assert.True(Path.IsPathRooted(b), $"{l.Name}: {b}")));
    }

    [Fact]
    public void LoadDefinitions_BuiltInCatalog_CompiledLanguagesHaveCompileCommands()
    {
        var all = LanguageCatalog.LoadDefinitions(null);

        Assert.True(all.Single(l => l.Name == "c").IsCompiled);
        Assert.True(all.Single(l => l.Name == "java").IsCompiled);
        Assert.Equal("Main.java", all.Single(l => l.Name == "java").MainFileName);
        Assert.False(all.Single(l => l.Name == "python").IsCompiled);
        Assert.Equal("main.py", all.Single(l => l.Name == "python").MainFileName);
    }

    [Fact]
    public void LoadDefinitions_Python_KeepsScriptDirectoryImportable()
    {
        // -I implies -P (3.11+), which drops the script's directory from sys.path: files[] helpers could not be imported.
        var python = LanguageCatalog.LoadDefinitions(null).Single(l => l.Name == "python");

        Assert.DoesNotContain("-I", python.Run);
        Assert.DoesNotContain("-P", python.Run);
    }

    [Theory]
    [InlineData("PY")]
    [InlineData("Python3")]
    [InlineData("python")]
    [InlineData("  py  ")]
    public void Resolve_NameOrAliasInAnyCase_FindsLanguage(string query)
    {
        var catalog = new LanguageCatalog([Definition("python", ["py", "python3"])]);

        Assert.Equal("python", catalog.Resolve(query).Name);
    }

    [Fact]
    public void Resolve_UnknownLanguage_ThrowsListingAvailable()
    {
        var catalog = new LanguageCatalog([Definition("python"), Definition("bash")]);

        var e = Assert.Throws<UnknownLanguageException>(() => catalog.Resolve("cobol"));

        Assert.Equal("cobol", e.Language);
        Assert.Contains("python", e.Message, StringComparison.Ordinal);
        Assert.Contains("bash", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void Resolve_EmptyName_ThrowsInvalidRequest(string? name)
    {
        var catalog = new LanguageCatalog([Definition("python")]);

        var e = Assert.Throws<InvalidRequestException>(() => catalog.Resolve(name));

        Assert.Equal("language", e.Parameter);
    }

    [Fact]
    public void Constructor_BinaryMissing_LanguageNotInstalled()
    {
        var catalog = new LanguageCatalog([Definition("ghost", binary: "/nonexistent/warden-test/ghost"), Definition("python")]);

        Assert.Single(catalog.Installed);
        Assert.Equal(2, catalog.All.Count);
        var e = Assert.Throws<UnknownLanguageException>(() => catalog.Resolve("ghost"));
        Assert.DoesNotContain("ghost", e.Message.Split("Available:")[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_FirstExistingBinary_IsUsed()
    {
        var definition = Definition("python") with { Binaries = ["/nonexistent/warden-test/python", _fakeBinary] };

        var catalog = new LanguageCatalog([definition]);

        Assert.Equal(_fakeBinary, catalog.Resolve("python").Binary);
    }

    [Fact]
    public void Constructor_EnabledLanguages_HidesOthers()
    {
        var catalog = new LanguageCatalog([Definition("python"), Definition("bash")], ["BASH"]);

        Assert.Equal("bash", Assert.Single(catalog.Installed).Name);
        Assert.Throws<UnknownLanguageException>(() => catalog.Resolve("python"));
    }

    [Fact]
    public void LoadDefinitions_RelativeBinary_Throws()
    {
        var file = WriteCatalog("""{ "languages": [ { "name": "x", "extension": ".x", "binaries": ["bin/x"], "run": ["{bin}"] } ] }""");

        var e = Assert.Throws<InvalidOperationException>(() => LanguageCatalog.LoadDefinitions(file));

        Assert.Contains("absolute", e.Message, StringComparison.Ordinal);
        Assert.Contains("'x'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadDefinitions_NoRunCommand_Throws()
    {
        var file = WriteCatalog("""{ "languages": [ { "name": "x", "extension": ".x", "binaries": ["/usr/bin/x"], "run": [] } ] }""");

        var e = Assert.Throws<InvalidOperationException>(() => LanguageCatalog.LoadDefinitions(file));

        Assert.Contains("no run command", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadDefinitions_ExtraFile_ReplacesBuiltInEntryByName()
    {
        var file = WriteCatalog("""
            // operator override
            { "languages": [ { "name": "Python", "extension": ".py", "binaries": ["/opt/python/bin/python3"], "run": ["{bin}", "{main}"] } ] }
            """);

        var all = LanguageCatalog.LoadDefinitions(file);

        var python = Assert.Single(all, l => l.Name.Equals("python", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(["/opt/python/bin/python3"], python.Binaries);
    }

    [Theory]
    [InlineData("Python 3.11.2", "3.11.2")]
    [InlineData("v20.20.2", "20.20.2")]
    [InlineData("javac 17.0.15", "17.0.15")]
    [InlineData("GNU bash, version 5.2.15(1)-release (x86_64-pc-linux-gnu)\nCopyright", "5.2.15")]
    [InlineData("0.5.12-2", "0.5.12")]
    [InlineData("", "unknown")]
    [InlineData("no version here\nsecond line", "no version here")]
    public void ExtractVersion_Banner_ReturnsFirstDottedNumber(string banner, string expected)
    {
        Assert.Equal(expected, LanguageCatalog.ExtractVersion(banner));
    }

    [Fact]
    public void Expand_Template_SubstitutesBinaryWorkspaceAndMain()
    {
        var language = new InstalledLanguage(Definition("c"), "/usr/bin/gcc");

        var argv = language.Expand(["{bin}", "-o", "{dir}/main", "{main}"], "/sandbox", "main.c");

        Assert.Equal(["/usr/bin/gcc", "-o", "/sandbox/main", "/sandbox/main.c"], argv);
    }
}
