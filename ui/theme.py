"""The window's dark theme: one palette, one style sheet, one accent colour table."""

from __future__ import annotations

from PySide6 import QtGui, QtWidgets

__all__ = ["COLORS", "apply_theme", "corner_color"]

# Named colours used by the painted widgets (pad, keyboard, meters) and the style sheet.
COLORS = {
    "window": "#16181d",
    "panel": "#1e2128",
    "raised": "#272b34",
    "border": "#363b47",
    "text": "#d8dce6",
    "dim": "#8a91a3",
    "accent": "#f0a83c",
    "accent2": "#4fc3d9",
    "error": "#ff6b6b",
    "ok": "#7bd88f",
    # one colour per pad corner: top-left, top-right, bottom-left, bottom-right
    "corner0": "#ef6f6c",
    "corner1": "#5fb0e8",
    "corner2": "#8bd46e",
    "corner3": "#c48ef0",
}

_STYLE = """
QWidget {{ background: {window}; color: {text}; font-size: 10pt; }}
QGroupBox {{ border: 1px solid {border}; border-radius: 6px; margin-top: 14px;
            padding: 6px; background: {panel}; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px;
                   color: {accent}; font-weight: bold; letter-spacing: 1px; }}
QPushButton, QToolButton {{ background: {raised}; border: 1px solid {border};
    border-radius: 4px; padding: 4px 10px; }}
QPushButton:hover, QToolButton:hover {{ border-color: {accent}; }}
QPushButton:pressed, QPushButton:checked, QToolButton:checked {{
    background: {accent}; color: #111; }}
QComboBox, QSpinBox, QDoubleSpinBox, QLineEdit {{ background: {raised};
    border: 1px solid {border}; border-radius: 4px; padding: 2px 6px; }}
QListWidget {{ background: {raised}; border: 1px solid {border}; border-radius: 4px; }}
QListWidget::item:selected {{ background: {accent}; color: #111; }}
QSlider::groove:horizontal {{ height: 4px; background: {border}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {accent}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {text}; width: 12px; margin: -5px 0;
    border-radius: 6px; }}
QTabWidget::pane {{ border: 1px solid {border}; background: {panel}; }}
QTabBar::tab {{ background: {raised}; padding: 5px 12px; border: 1px solid {border}; }}
QTabBar::tab:selected {{ background: {panel}; color: {accent}; }}
QLabel#banner {{ background: #4a2222; color: #ffd6d6; border: 1px solid {error};
    border-radius: 4px; padding: 6px; }}
QLabel#error {{ color: {error}; }}
QLabel#title {{ font-size: 13pt; font-weight: bold; color: {text}; }}
QLabel#dim {{ color: {dim}; }}
QStatusBar {{ background: {panel}; color: {dim}; }}
"""


def corner_color(index: int) -> QtGui.QColor:
    """Pad corner ``index``'s colour (0 top-left, 1 top-right, 2 bottom-left, 3 ...)."""
    return QtGui.QColor(COLORS[f"corner{index}"])


def apply_theme(app: QtWidgets.QApplication) -> None:
    """Give the whole application the dark palette and style sheet."""
    app.setStyle("Fusion")
    pal = QtGui.QPalette()
    roles = {
        QtGui.QPalette.Window: "window",
        QtGui.QPalette.WindowText: "text",
        QtGui.QPalette.Base: "raised",
        QtGui.QPalette.AlternateBase: "panel",
        QtGui.QPalette.Text: "text",
        QtGui.QPalette.Button: "raised",
        QtGui.QPalette.ButtonText: "text",
        QtGui.QPalette.Highlight: "accent",
        QtGui.QPalette.HighlightedText: "window",
        QtGui.QPalette.ToolTipBase: "panel",
        QtGui.QPalette.ToolTipText: "text",
    }
    for role, name in roles.items():
        pal.setColor(role, QtGui.QColor(COLORS[name]))
    app.setPalette(pal)
    app.setStyleSheet(_STYLE.format(**COLORS))
