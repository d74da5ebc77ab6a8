"""Model definitions, each explained in its chapter: classifiers, gan, vae, vaegan."""
