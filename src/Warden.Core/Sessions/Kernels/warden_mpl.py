"""matplotlib backend for the Warden kernel: Agg rendering; show() sends the figures as image/png display_data now."""
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg


def show(*args, **kwargs):
    import warden_kernel
    warden_kernel.flush_figures()
