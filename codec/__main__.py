from codec.cli import main

main(prog_name="aecodec")
