namespace Warden.Server.OpenTerminalApi;

/// <summary><c>GET /api/config</c>: which of open-terminal's optional interface features this server offers.</summary>
public sealed record UiConfigDto(UiFeaturesDto Features);

public sealed record UiFeaturesDto(bool Terminal, bool Notebooks, bool System);

/// <summary><c>GET /system</c>: the system prompt Open WebUI gives the model.</summary>
public sealed record SystemPromptDto(string Prompt);

/// <summary><c>GET /files/cwd</c>: the file browser's directory, the home, and the root it may not leave.</summary>
public sealed record WorkingDirectoryDto(string Cwd, string Home, FileRootDto Root);

public sealed record FileRootDto(string Path, string Label);

/// <summary><c>POST /files/cwd</c>: the directory now in effect.</summary>
public sealed record CwdDto(string Cwd);
