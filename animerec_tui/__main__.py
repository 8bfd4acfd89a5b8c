from animerec_tui.cli import main

main()
