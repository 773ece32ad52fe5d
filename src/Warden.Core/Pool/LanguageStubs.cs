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
    /// module globals and loader; output flushed before a traceback is printed; stub frames dropped from tracebacks.
    /// It imports nothing new (gc, which the interpreter has built in, is taken out of sys.modules again).
    /// <para>
    /// The end of the run is where the time goes: the interpreter's own finalization (freeing every object of the
    /// ~100 modules site loads) costs ~4 ms here, longer than the program. So the stub ends the process itself, doing
    /// what finalization does that a program can observe, in the same order: join non-daemon threads, run atexit
    /// callbacks, flush sys.stdout/sys.stderr, clear <c>__main__</c>'s globals as the interpreter does (so __del__
    /// methods run and unclosed files are flushed), collect cyclic garbage, flush again, then <c>_exit</c> with the
    /// status the interpreter would have used (SystemExit code, 1 after a traceback, SIGINT after an uncaught
    /// KeyboardInterrupt). Where the sandbox offers an exit report (<c>/dev/warden-exit</c>, see
    /// <see cref="Sandboxing.Slots.ExitReport"/>), it writes that status there first, provided nothing but the sandbox's
    /// init and itself runs in the sandbox (processes the program left behind must die with the sandbox before the
    /// answer, so that run waits for the teardown as a cold one does). It leaves the ending to the
    /// interpreter whenever that could differ: a SystemExit whose code
    /// is not None or an int, a failing flush, or an extension module loaded by the program from outside the
    /// standard library's lib-dynload, or ctypes (C code may hold buffered C stdio or atexit handlers).
    /// </para>
    /// Known differences: frame introspection (inspect.stack()) sees the stub's two frames below the module; the
    /// objects loaded before the program are frozen (gc.freeze(), so gc.get_objects() omits them and the final
    /// collection does not walk them); objects kept alive only by other modules are not finalized (CPython does not
    /// promise that either).
    /// </summary>
    private const string Python = """
def _warden_stub():
    import sys, os
    loaded = set(sys.modules)
    import gc, atexit, _weakref, _signal
    for name in set(sys.modules) - loaded:
        del sys.modules[name]
    startup = set(sys.modules)
    dynload = tuple(p + os.sep for p in sys.path if p.endswith('lib-dynload'))
    # The interpreter's first compile() of a file costs ~1.5 ms more than later ones here: pay it while idle.
    compile(b'pass', os.sep + 'main.py', 'exec', dont_inherit=True)
    gc.freeze()

    def read_message():
        header = b''
        while not header.endswith(b'\n'):
            byte = os.read(0, 1)
            if not byte:
                os._exit(0)
            header += byte
        size = int(header.split()[0])
        data = b''
        while len(data) < size:
            chunk = os.read(0, size - len(data))
            if not chunk:
                os._exit(0)
            data += chunk
        return [os.fsdecode(f) for f in data.split(b'\0')[:-1]]

    def native_code_loaded():
        try:
            for name in set(sys.modules) - startup:
                path = getattr(sys.modules[name], '__file__', None)
                if isinstance(path, str) and not path.endswith('.py') and (name == '_ctypes' or not path.startswith(dynload)):
                    return True
        except BaseException:
            return True
        return False

    def flushed():
        try:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
            return True
        except BaseException:
            return False

    def finish(status, main, interrupted):
        # The steps of the interpreter's finalization a program can observe, in its order (Py_FinalizeEx,
        # finalize_modules). Anything unusual: raise, and the interpreter's own exit does the rest as for a cold run.
        if native_code_loaded():
            raise SystemExit(status)
        threading = sys.modules.get('threading')
        if threading is not None:
            threading._shutdown()
        atexit._run_exitfuncs()
        if not flushed():
            raise SystemExit(status)
        gc.collect()
        sys.modules['builtins'].__dict__['_'] = None
        for name in ('path', 'argv', 'ps1', 'ps2', 'last_type', 'last_value', 'last_traceback',
                     'path_hooks', 'path_importer_cache', 'meta_path', '__interactivehook__'):
            setattr(sys, name, None)
        sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
        if sys.modules.get('__main__') is main():
            del sys.modules['__main__']
        gc.collect()
        module = main()
        if module is not None:
            namespace = module.__dict__
            del module
            # As the interpreter clears a module that outlived its removal: one-underscore names first, then the rest.
            for first in (True, False):
                for key in list(namespace):
                    if key != '__builtins__' and (key[:1] == '_' and key[:2] != '__') == first:
                        namespace[key] = None
            del namespace
        if not flushed():
            raise SystemExit(120)
        if interrupted:
            _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
            os.kill(os.getpid(), _signal.SIGINT)
            # Still here (a pid namespace's init ignores its own SIGINT): 128 + SIGINT, as the interpreter does.
            status = 128 + _signal.SIGINT
        # Where the sandbox offers an exit report (its teardown after the program's exit takes ~2 ms with bwrap, ~10 ms
        # on gVisor), the status goes there first, unless the program left processes behind: those die with the
        # sandbox, which the answer then waits for. Opened only now: the program never sees the descriptor.
        # Non-blocking: a FIFO without a reader (one the program made there itself) must not hold up the exit.
        try:
            me = str(os.getpid())
            if all(pid in ('1', me) for pid in os.listdir('/proc') if pid.isdigit()):
                report = os.open('/dev/warden-exit', os.O_WRONLY | os.O_NONBLOCK)
                os.write(report, b'%d\n' % (status & 0xff))
        except OSError:
            pass
        os._exit(status)

    fields = read_message()
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
    status = None
    interrupted = False
    try:
        with open(main, 'rb') as source:
            code = compile(source.read(), main, 'exec', dont_inherit=True)
        del source
        exec(code, namespace)
    except SystemExit as exit:
        # The interpreter exits straight from here (no flush_io, __file__ kept).
        status = exit.code
        if status is None:
            status = 0
        elif type(status) is not int or not -2**31 <= status < 2**31:
            raise
        del exit
        error = None
    except BaseException as e:
        error = e
    else:
        error = None
    code = None
    if status is None:
        # As the interpreter does after running a file (flush_io): output order around a traceback stays the same.
        for stream in (sys.stderr, sys.stdout):
            try:
                stream.flush()
            except BaseException:
                pass
        namespace.pop('__file__', None)
        namespace.pop('__cached__', None)
        status = 0
        if error is not None:
            tb = error.__traceback__
            while tb is not None and tb.tb_frame.f_code.co_filename == '<string>':
                tb = tb.tb_next
            error.__traceback__ = tb
            sys.last_type, sys.last_value, sys.last_traceback = type(error), error, tb
            sys.excepthook(type(error), error, tb)
            interrupted = isinstance(error, KeyboardInterrupt)
            status = 1
            del tb
    del error
    main = _weakref.ref(module)
    del module, namespace
    finish(status, main, interrupted)
_warden_stub()
""";

    /// <summary>
    /// Runs the main file through <c>Module.runMain</c> as <c>node FILE</c> does: same process.argv and execArgv,
    /// require.main, module scope; the globals <c>-e</c> defines are removed. Where the sandbox offers an exit report
    /// (see <see cref="Sandboxing.Slots.ExitReport"/>), a wrapper of <c>process.emit</c> reports the status once the
    /// final 'exit' listeners have run. Known differences: the node-internal frames at the bottom of a stack trace are
    /// the eval ones instead of run_main_module's; an uncaught error whose <c>stack</c> cannot be rewritten is printed
    /// without the source line above it; <c>process.emit</c> is that wrapper.
    /// </summary>
    private const string JavaScript = """
(() => {
  // The first console.log costs ~6 ms here, most of it loading the modules behind the stdio streams: load them
  // while idle. Not the streams themselves: creating one makes its descriptor non-blocking, which a program that
  // never writes to stdout (but hands it to a child) would see.
  require('net'); require('tty');
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
  // Where the sandbox offers an exit report (its teardown after the program's exit takes ~2 ms with bwrap, ~10 ms on
  // gVisor), the final 'exit' emission reports the status there, once every listener has run. Not after an uncaught
  // exception: node prints its stack trace only after that emission, so that run ends the old way. Nor when the
  // program left processes behind: those die with the sandbox, which the answer then waits for.
  const original = process.emit;
  let fatal = false;
  process.emit = { emit(event, ...args) {
    if (event === 'uncaughtExceptionMonitor') fatal = true;
    const handled = Reflect.apply(original, this, [event, ...args]);
    if (event === 'uncaughtException' && handled) fatal = false;
    if (event === 'exit' && process._exiting === true && !fatal) {
      const code = Number(process.exitCode ?? args[0]);
      try {
        const alone = fs.readdirSync('/proc').every(p => !/^[0-9]+$/.test(p) || p === '1' || p === String(process.pid));
        if (alone && Number.isInteger(code)) fs.writeSync(fs.openSync('/dev/warden-exit', fs.constants.O_WRONLY | fs.constants.O_NONBLOCK), `${code & 0xff}\n`);
      } catch {}
    }
    return handled;
  } }.emit;
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
