namespace Warden.Server.Tests.Fuzz;

/// <summary>What valid requests need: the credentials of each kind and the ids of objects the fuzz itself created.</summary>
internal sealed class FuzzState
{
    private const int PoolSize = 16;

    public required string BootstrapKey { get; init; }
    public required string ExecuteKey { get; init; }
    public required string AdminKey { get; init; }
    public required string Password { get; init; }

    /// <summary>A valid Jupyter login cookie value and the _xsrf cookie it came with.</summary>
    public required string LoginCookie { get; init; }
    public required string Xsrf { get; init; }

    public List<string> Sessions { get; } = [];
    public List<string> Kernels { get; } = [];
    public List<string> Executions { get; } = [];
    public List<string> Keys { get; } = [];
    public List<string> Processes { get; } = [];

    public static void Remember(List<string> pool, string id)
    {
        pool.Add(id);
        if (pool.Count > PoolSize) pool.RemoveAt(0);
    }
}
