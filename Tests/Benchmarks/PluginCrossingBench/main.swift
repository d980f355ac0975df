import NvisyPlugins
print("placeholder")
