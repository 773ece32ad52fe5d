namespace Warden.Core.Pool;

/// <summary>
/// The programs a warm sandbox starts with instead of the user's: they load the interpreter, block reading the
/// go-message from stdin, then run the main file exactly as the language's cold run command would, with the rest of
/// stdin left to the program. Each replaces the <c>{main}</c> argument of that command. The go-message (see
/// <see cref="WarmRecipes.GoMessage"/>) is a header line "BYTES FIELDS\n", then NUL-terminated fields: the main
/// file's index in the cold argv, then the cold argv itself (interpreter, its flags, main file, the request's args).
/// Stdin carries it because it reaches the program in every backend (gVisor passes no other descriptor in); the stubs
/// read exactly the message and not one byte of the program's input.
/// </summary>
internal static class LanguageStubs
{
    /// <summary>The arguments standing in for <c>{main}</c>, or null when the language has no stub.</summary>
    public static IReadOnlyList<string>? For(string language) => language switch
    {
        "python" => ["-c", Python],
        "javascript" => ["-e", JavaScript],
        "bash" => ["-c", Bash],
        _ => null,
    };

    /// <summary>
    /// Runs the main file as <c>__main__</c> as <c>python3 FILE</c> does: same sys.argv, sys.orig_argv, sys.path[0],
    /// module globals and loader; output flushed before a traceback is printed; stub frames dropped from tracebacks;
    /// SystemExit left to the interpreter; <c>__file__</c> removed afterwards. It imports nothing new. Known difference:
    /// frame introspection (inspect.stack()) sees the stub's two frames below the module.
    /// </summary>
    private const string Python = """
def _warden_go():
    import sys, os
    header = b''
    while not header.endswith(b'\n'):
        byte = os.read(0, 1)
        if not byte:
            raise SystemExit(0)
        header += byte
    size = int(header.split()[0])
    data = b''
    while len(data) < size:
        chunk = os.read(0, size - len(data))
        if not chunk:
            raise SystemExit(0)
        data += chunk
    fields = [os.fsdecode(f) for f in data.split(b'\0')[:-1]]
    index, argv = int(fields[0]), fields[1:]
    main = argv[index]
    sys.orig_argv[:] = argv
    sys.argv[:] = argv[index:]
    sys.path[0] = os.path.dirname(os.path.realpath(main))
    module = type(sys)('__main__')
    namespace = module.__dict__
    namespace['__annotations__'] = {}
    namespace['__builtins__'] = __builtins__
    namespace['__file__'] = main
    namespace['__cached__'] = None
    namespace['__loader__'] = sys.modules['_frozen_importlib_external'].SourceFileLoader('__main__', main)
    sys.modules['__main__'] = module
    try:
        with open(main, 'rb') as source:
            code = compile(source.read(), main, 'exec', dont_inherit=True)
        del source
        exec(code, namespace)
    except SystemExit:
        raise
    except BaseException as e:
        error = e
    else:
        error = None
    # As the interpreter does after running a file (flush_io): output order around a traceback stays the same.
    for stream in (sys.stderr, sys.stdout):
        try:
            stream.flush()
        except BaseException:
            pass
    namespace.pop('__file__', None)
    namespace.pop('__cached__', None)
    if error is None:
        return
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == '<string>':
        tb = tb.tb_next
    error.__traceback__ = tb
    sys.last_type, sys.last_value, sys.last_traceback = type(error), error, tb
    sys.excepthook(type(error), error, tb)
    del error, tb
    raise SystemExit(1)
_warden_go()
""";

    /// <summary>
    /// Runs the main file through <c>Module.runMain</c> as <c>node FILE</c> does: same process.argv and execArgv,
    /// require.main, module scope; the globals <c>-e</c> defines are removed. Known difference: the node-internal
    /// frames at the bottom of a stack trace are the eval ones instead of run_main_module's.
    /// </summary>
    private const string JavaScript = """
(() => {
  const fs = require('fs');
  const one = Buffer.alloc(1);
  const read = (buffer, offset, length) => {
    for (;;) {
      try { return fs.readSync(0, buffer, offset, length, null); } catch (e) { if (e.code !== 'EAGAIN') throw e; }
    }
  };
  let header = '';
  while (!header.endsWith('\n')) {
    if (read(one, 0, 1) === 0) process.exit(0);
    header += one.toString('latin1');
  }
  const size = Number(header.split(' ')[0]);
  const message = Buffer.alloc(size);
  for (let got = 0; got < size;) {
    const n = read(message, got, size - got);
    if (n === 0) process.exit(0);
    got += n;
  }
  const chunks = [message];
  const fields = Buffer.concat(chunks).toString('utf8').split('\0');
  fields.pop();
  const index = Number(fields[0]);
  const argv = fields.slice(1);
  const Module = require('module');
  for (const name of ['module', 'exports', '__dirname', 'require', '__filename']) delete globalThis[name];
  process.argv.splice(0, process.argv.length, process.execPath, ...argv.slice(index));
  process.execArgv.splice(0, process.execArgv.length, ...argv.slice(1, index));
  delete process._eval;
  Module.runMain();
})();
""";

    /// <summary>
    /// Reads the cold argv (bash's read takes one byte at a time from a pipe, so it stops exactly at the message's end)
    /// and execs it: a fresh bash with clean <c>set</c> state, $0 and $@.
    /// </summary>
    private const string Bash = """
read -r size n || exit 0; a=(); for ((i = 0; i < n; i++)); do IFS= read -r -d '' f || exit 0; a+=("$f"); done; unset SHLVL _ size n i f; exec "${a[@]:1}"
""";
}
