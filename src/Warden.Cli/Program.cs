using System.CommandLine;
using Warden.Cli.Commands;

var root = new RootCommand("Warden: a secure code-execution server (bubblewrap + seccomp + cgroups).")
{
    ServeCommand.Create(),
    RunCommand.Create(),
    DoctorCommand.Create(),
    SelfTestCommand.Create(),
    KeysCommand.Create(),
    McpCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
