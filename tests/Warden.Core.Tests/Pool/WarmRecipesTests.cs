using Warden.Core.Languages;
using Warden.Core.Limits;
using Warden.Core.Pool;
using Warden.Core.Sandboxing;

namespace Warden.Core.Tests.Pool;

public sealed class WarmRecipesTests
{
    private static readonly ResourceLimits Limits = new()
    {
        WallTime = TimeSpan.FromSeconds(10), CpuTime = TimeSpan.FromSeconds(10), MemoryBytes = 256 << 20, MaxProcesses = 64,
        MaxOutputBytes = 1 << 20, Cpus = 1, MaxFileBytes = 64 << 20, MaxOpenFiles = 256, TmpBytes = 64 << 20, WorkspaceBytes = 64 << 20,
        Network = false,
    };

    private static InstalledLanguage Language(string name, params string[] run) =>
        new(new LanguageDefinition { Name = name, Extension = ".x", Run = run }, "/usr/bin/" + name);

    [Fact]
    public void For_Python_StubReplacesMainAfterInterpreterFlags()
    {
        var recipe = WarmRecipes.For(Language("python", "{bin}", "-E", "-s", "{main}"), Limits, "/sandbox")!;

        Assert.Equal(3, recipe.MainIndex);
        Assert.Equal(["/usr/bin/python", "-E", "-s", "-c"], recipe.Stub.Argv.Take(4));
    }

    [Fact]
    public void For_NoStubOrMainNotLast_Null()
    {
        Assert.Null(WarmRecipes.For(Language("ruby", "{bin}", "{main}"), Limits, "/sandbox"));
        Assert.Null(WarmRecipes.For(Language("python", "{bin}", "{main}", "--flag"), Limits, "/sandbox"));
    }

    [Fact]
    public void GoMessage_HeaderThenIndexThenArgvNulTerminated()
    {
        var recipe = WarmRecipes.For(Language("bash", "{bin}", "{main}"), Limits, "/sandbox")!;
        var command = new SandboxCommand(["/usr/bin/bash", "/sandbox/main.x", "a b"], recipe.Stub.Environment, []);

        var go = WarmRecipes.GoMessage(recipe, command);

        const string body = "1\0/usr/bin/bash\0/sandbox/main.x\0a b\0";
        Assert.Equal($"{body.Length} 4\n{body}", System.Text.Encoding.UTF8.GetString(go));
    }

    [Fact]
    public void GoMessage_OtherEnvironment_Refused()
    {
        var recipe = WarmRecipes.For(Language("bash", "{bin}", "{main}"), Limits, "/sandbox")!;
        var env = new Dictionary<string, string>(recipe.Stub.Environment) { ["EXTRA"] = "1" };

        Assert.Throws<InvalidOperationException>(() =>
            WarmRecipes.GoMessage(recipe, new SandboxCommand(["/usr/bin/bash", "/sandbox/main.x"], env, [])));
    }

    [Fact]
    public void WarmProfile_OnlyWallMemoryOutputDiffer_Fits()
    {
        var request = Limits with { WallTime = TimeSpan.FromSeconds(1), MemoryBytes = 32 << 20, MaxOutputBytes = 100, CpuTime = TimeSpan.FromSeconds(9.5) };

        Assert.True(WarmProfile.Fits(Limits, request));
        Assert.False(WarmProfile.Fits(Limits, Limits with { CpuTime = TimeSpan.FromSeconds(1) }));
        Assert.False(WarmProfile.Fits(Limits, Limits with { Network = true }));
    }
}
