using Warden.Core.Execution;
using Warden.Core.Languages;

namespace Warden.Server.LocalRun;

/// <summary>The language of a <c>warden run</c>: as asked, else from the file's extension — one wording for both ways of running.</summary>
public static class LocalRunLanguage
{
    /// <exception cref="InvalidRequestException">The extension names no installed language.</exception>
    public static string Resolve(LanguageCatalog catalog, string file, string? language)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        if (language is not null) return language;
        var byExtension = file == "-" ? null : catalog.FindByExtension(Path.GetExtension(file));
        return byExtension?.Name ?? throw new InvalidRequestException(
            $"cannot tell the language of '{file}'; pass --language (available: {string.Join(", ", catalog.Installed.Select(l => l.Name))}).", "language");
    }

    public static ExecutionRequest ToExecution(LocalRunRequest request, string language)
    {
        ArgumentNullException.ThrowIfNull(request);
        return new ExecutionRequest
        {
            Language = language,
            Code = request.Code,
            Stdin = request.Stdin,
            Network = request.Network,
            Limits = new Warden.Core.Limits.LimitRequest { TimeoutSeconds = request.TimeoutSeconds, MemoryMb = request.MemoryMb },
        };
    }
}
